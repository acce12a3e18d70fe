"""Unit tests for the paths_info module: what it reports of each kind of path."""

import hashlib
import importlib.util
import os
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "paths_info.py"
spec = importlib.util.spec_from_file_location("paths_info", PLUGIN)
paths_info = importlib.util.module_from_spec(spec)
spec.loader.exec_module(paths_info)


class Module:
    """The one AnsibleModule method read() uses."""

    @staticmethod
    def digest_from_file(path: str, algorithm: str) -> str:
        return hashlib.new(algorithm, Path(path).read_bytes()).hexdigest()


def test_a_file_reports_its_owner_mode_and_checksum(tmp_path):
    settings = tmp_path / "settings"
    settings.write_text("KEY=value\n")
    settings.chmod(0o640)
    info = paths_info.read(Module, str(settings), checksum=True)
    assert info["exists"] and info["type"] == "file"
    assert info["mode"] == "0640"
    assert info["checksum"] == hashlib.sha1(b"KEY=value\n").hexdigest()
    assert info["owner"] and info["group"]
    assert "checksum" not in paths_info.read(Module, str(settings), checksum=False)


def test_a_directory_and_a_link_with_its_target(tmp_path):
    (tmp_path / "releases").mkdir(mode=0o751)
    os.chmod(tmp_path / "releases", 0o751)
    os.symlink(tmp_path / "releases", tmp_path / "current")
    assert paths_info.read(Module, str(tmp_path / "releases"), True)["mode"] == "0751"
    link = paths_info.read(Module, str(tmp_path / "current"), True)
    assert (link["type"], link["target"]) == ("link", str(tmp_path / "releases"))


def test_a_dangling_link_exists_and_a_missing_path_does_not(tmp_path):
    os.symlink(tmp_path / "gone", tmp_path / "previous")
    assert paths_info.read(Module, str(tmp_path / "previous"), True)["exists"]
    assert paths_info.read(Module, str(tmp_path / "missing"), True) == {"exists": False}
