"""asgi-stack-precompress (django_app's files/asgi_stack_precompress.py): copies made, kept, taken from the live one."""

from __future__ import annotations

import gzip
import importlib.util
import os
from pathlib import Path

import brotli
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "asgi_stack_precompress", ROOT / "roles" / "django_app" / "files" / "asgi_stack_precompress.py"
)
precompress = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(precompress)

EXTENSIONS = ["css", "js", "svg"]
STYLESHEET = b"body { color: #333; margin: 0 auto; }\n" * 200


@pytest.fixture
def release(tmp_path: Path) -> Path:
    static = tmp_path / "new" / "static"
    (static / "core").mkdir(parents=True)
    (static / "core" / "site.css").write_bytes(STYLESHEET)
    (static / "core" / "tiny.js").write_bytes(b"x")
    (static / "core" / "logo.png").write_bytes(b"\x89PNG" * 500)
    (static / "core" / "LOUD.SVG").write_bytes(b"<svg>" + b"<g/>" * 300 + b"</svg>")
    return static


def test_copies_are_made_for_the_extensions_given_and_kept_only_where_smaller(release: Path):
    assert precompress.precompress(str(release), EXTENSIONS) == ["core/LOUD.SVG", "core/site.css"]
    css = release / "core" / "site.css"
    assert gzip.decompress((release / "core" / "site.css.gz").read_bytes()) == STYLESHEET
    assert brotli.decompress((release / "core" / "site.css.br").read_bytes()) == STYLESHEET
    # Dated as their file, so that a second run sees them as made from it.
    assert os.stat(f"{css}.gz").st_mtime_ns == os.stat(css).st_mtime_ns
    assert not (release / "core" / "tiny.js.gz").exists() and not (release / "core" / "tiny.js.br").exists()
    assert not (release / "core" / "logo.png.gz").exists()
    assert not list(release.rglob("*.partial"))


def test_a_second_run_compresses_nothing_and_a_changed_file_again(release: Path):
    precompress.precompress(str(release), EXTENSIONS)
    assert precompress.precompress(str(release), EXTENSIONS) == []
    css = release / "core" / "site.css"
    css.write_bytes(b"p { padding: 1em; }\n" * 100)
    os.utime(css, (os.stat(css).st_atime + 5, os.stat(css).st_mtime + 5))
    assert precompress.precompress(str(release), EXTENSIONS) == ["core/site.css"]
    assert gzip.decompress((release / "core" / "site.css.gz").read_bytes()) == css.read_bytes()


def test_files_the_live_release_has_unchanged_take_its_copies(release: Path, monkeypatch):
    live = release.parent.parent / "live" / "static"
    (live / "core").mkdir(parents=True)
    (live / "core" / "site.css").write_bytes(STYLESHEET)
    (live / "core" / "LOUD.SVG").write_bytes(b"<svg>changed since</svg>" * 50)
    precompress.precompress(str(live), EXTENSIONS)
    # The live copies are marked, to tell them from copies made again.
    (live / "core" / "site.css.br").write_bytes(b"live brotli copy")
    os.utime(live / "core" / "site.css.br", ns=(0, os.stat(live / "core" / "site.css").st_mtime_ns))

    made = []
    monkeypatch.setitem(precompress.COPIES, ".br", lambda data: made.append(data) or brotli.compress(data))
    assert precompress.precompress(str(release), EXTENSIONS, like=str(live)) == ["core/LOUD.SVG", "core/site.css"]
    assert (release / "core" / "site.css.br").read_bytes() == b"live brotli copy"
    assert (release / "core" / "site.css.gz").read_bytes() == (live / "core" / "site.css.gz").read_bytes()
    css = release / "core" / "site.css"
    assert os.stat(f"{css}.br").st_mtime_ns == os.stat(css).st_mtime_ns
    # The changed file, and those the live release lacks, are compressed here.
    assert made == [(release / "core" / "LOUD.SVG").read_bytes(), b"x"]


def test_a_live_release_that_kept_no_copy_of_a_file_keeps_none_here_either(release: Path, monkeypatch):
    live = release.parent.parent / "live" / "static"
    (live / "core").mkdir(parents=True)
    (live / "core" / "tiny.js").write_bytes(b"x")
    (live / "core" / "site.css").write_bytes(STYLESHEET)
    precompress.precompress(str(live), EXTENSIONS)
    # tiny.js has no copy there: not one it took (none to take), so it is compressed here and none kept.
    assert precompress.precompress(str(release), EXTENSIONS, like=str(live)) == ["core/LOUD.SVG", "core/site.css"]
    assert not (release / "core" / "tiny.js.gz").exists()


def test_the_live_release_itself_or_none_is_no_source(release: Path):
    assert precompress.precompress(str(release), EXTENSIONS, like=str(release)) == ["core/LOUD.SVG", "core/site.css"]
    missing = release.parent.parent / "nothing-live-yet"
    assert precompress.precompress(str(release), EXTENSIONS, like=str(missing)) == []


def test_the_command_prints_each_file_it_compressed(release: Path, capsys):
    assert precompress.main(["--like", str(release.parent / "missing"), str(release), "css"]) == 0
    assert capsys.readouterr().out == "core/site.css\n"
    assert precompress.main([str(release)]) == 0
    assert capsys.readouterr().out == ""
