"""The server kinds table is the one home of what a kind is, and what derives from it agrees with it.

The table: roles/asgi_server/vars/main.yml, asgi_server_kinds. Adding a kind means an entry there, its
command line in templates/exec/<kind>.j2 (and the README's table and the spec's choices written by
tests/harness/kinds_table.py).
"""

import ast
import itertools
import re
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "asgi_server"
sys.path.insert(0, str(ROOT / "tests" / "harness"))

import kinds_table  # noqa: E402

TABLE = kinds_table.table()
KINDS = list(TABLE)
SPEC = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
# Every attribute a kind has, with its type; instances and the rest may be left out.
REQUIRED = {
    "description": str,
    "workers": bool,
    "tls": bool,
    "type": str,
    "reload_signal": str,
    "socket_activation": bool,
    "kill_mode": str,
    "websocket_stop": int,
    "packages": list,
}
OPTIONAL = {
    "instances": int,
    "python_helper": str,
    "python_modules": list,
    "notify_access": str,
    "stop_helper": bool,
    "step_aside": bool,
    "reload_order": str,
    "restart": str,
    "ready_when_serving": bool,
    "proxy_clear_request_headers": list,
    "proxy_hide_response_headers": list,
    "websocket_stop_lost": str,
    "websocket_stop_after_requests": bool,
}


def test_the_spec_offers_the_tables_kinds_in_its_order():
    assert SPEC["asgi_server_kind"]["choices"] == KINDS
    text = kinds_table.SPEC.read_text()
    assert kinds_table.spec_with_choices(text, KINDS) == text, "run tests/harness/kinds_table.py spec --write"
    assert SPEC["asgi_server_kind"]["default"] in KINDS


def test_every_kind_has_packages_and_the_users_replace_none_by_default():
    assert list(kinds_table.packages()) == KINDS
    assert all(kinds_table.packages().values())
    assert SPEC["asgi_server_packages"]["default"] == {}


def test_every_kind_has_one_command_line_template():
    templates = sorted(path.stem for path in (ROLE / "templates" / "exec").glob("*.j2"))
    assert templates == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_each_attribute_and_no_unknown_one(kind):
    entry = TABLE[kind]
    for name, kind_of_value in REQUIRED.items():
        assert isinstance(entry.get(name), kind_of_value), f"{kind}: {name}"
    for name, value in entry.items():
        assert name in REQUIRED or name in OPTIONAL, f"{kind}: unknown attribute {name}"
        assert isinstance(value, (REQUIRED | OPTIONAL)[name]), f"{kind}: {name}"
    assert entry["type"] in ("notify", "exec")
    assert entry.get("notify_access", "main") in ("main", "all")
    assert entry["type"] == "notify" or "notify_access" not in entry, f"{kind}: notify_access without Type=notify"
    assert entry["reload_signal"] in ("", "HUP")
    # How the workers are replaced is told for each kind that reloads, and only for those.
    assert entry.get("reload_order", "") in (kinds_table.RELOAD_ORDERS if entry["reload_signal"] else ("",))
    assert entry.get("instances", 1) >= 1
    assert entry.get("restart", "on-failure") in ("on-failure", "always")
    # Only a socket the server binds itself has a file that a stop may remove.
    assert not entry.get("step_aside", False) or not entry["socket_activation"], f"{kind}: step_aside"
    # A close frame with a code, never a dropped connection.
    assert entry["websocket_stop"] in (1001, 1012)
    # A close held until no worker has a request running needs the module that does it.
    assert not entry.get("websocket_stop_after_requests") or "asgi_stack_drain" in entry.get("python_modules", [])
    # A kind that binds its socket itself cannot hold it over a restart: it
    # needs a second instance to answer meanwhile.
    assert entry["socket_activation"] or entry.get("instances", 1) > 1, kind


def test_every_helper_module_belongs_to_a_kind():
    helpers = {entry["python_helper"] for entry in TABLE.values() if "python_helper" in entry}
    imported = {module for entry in TABLE.values() for module in entry.get("python_modules", [])}
    assert helpers | imported == {path.stem for path in (ROLE / "files").glob("*.py")}


def imports_of(tree: ast.Module, as_main: bool) -> set[str]:
    """The modules a module imports anywhere in it; its ``__main__`` block's only if it runs ``as_main``."""
    main_blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test).replace("'", '"') == '__name__ == "__main__"'
    ]
    skipped = set() if as_main else {id(inner) for block in main_blocks for inner in ast.walk(block)}
    nodes = [node for node in ast.walk(tree) if id(node) not in skipped]
    names = {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.module}


@pytest.mark.parametrize("kind", KINDS)
def test_a_helper_imports_of_files_only_the_modules_installed_beside_it(kind):
    """A kind's helper and the modules it imports are installed alone: what they import of files/ is among them.

    Imports at a module's top level, which every kind that installs it runs (uvicorn's kind ran
    asgi_stack_uvicorn, which imported asgi_stack_arbiter where uvicorn_worker was importable: a virtualenv
    that a gunicorn_uvicorn release built; gunicorn's worker is now a module of its own), and those made later
    inside a function (hypercorn's QUIC server imports asgi_stack_quic as it starts); those of a module's
    ``if __name__ == "__main__"`` block count where the module is the kind's helper, which the server may run as
    its command (uvicorn's kind runs asgi_stack_uvicorn, which gunicorn_uvicorn's worker imports).
    """
    ours = {path.stem for path in (ROLE / "files").glob("*.py")}
    entry = TABLE[kind]
    assert "python_helper" in entry or not entry.get("python_modules"), f"{kind}: modules without a helper"
    installed = {entry["python_helper"], *entry.get("python_modules", [])} if "python_helper" in entry else set()
    for module in installed:
        names = imports_of(ast.parse((ROLE / "files" / f"{module}.py").read_text()), module == entry["python_helper"])
        assert names & ours <= installed, f"{kind}: {module} imports {sorted(names & ours - installed)}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_kind_runs_its_helper(kind):
    """A kind's command line names its helper module, and a kind without one names none."""
    command = (ROLE / "templates" / "exec" / f"{kind}.j2").read_text()
    assert ("kind.python_helper" in command) == ("python_helper" in TABLE[kind])


class Placeholder(jinja2.Undefined):
    """Any other variable: a number or a word, as the template needs."""

    def __str__(self) -> str:
        return "1"

    def __int__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return True


@pytest.mark.parametrize("kind", KINDS)
def test_a_kinds_command_line_renders_to_unit_lines(kind):
    """Rendered as Ansible renders templates (trim_blocks), each line is a comment, a setting or a continuation."""
    jinja = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"), trim_blocks=True, undefined=Placeholder
    )
    values = {
        "kind": {**TABLE[kind], "reload_signal": TABLE[kind]["reload_signal"]},
        "venv": "/srv/demo/venvs/v",
        "asgi_server_extra_args": ["--extra-one", "--extra-two"],
        "asgi_server_tls": kind in ("hypercorn",),
        "asgi_server_tls_http3": True,
        "asgi_server_tls_profile": "modern",
        "__asgi_server_tls": {"minimum": "TLSv1.3", "ciphers": [], "curves": ["X25519"]},
    }
    rendered = jinja.get_template(f"exec/{kind}.j2").render(values)
    lines = rendered.splitlines()
    assert any(line.startswith("ExecStart=") for line in lines)
    for number, line in enumerate(lines):
        continued = number > 0 and lines[number - 1].endswith("\\")
        assert continued or line.startswith("#") or re.match(r"^[A-Z][A-Za-z]+=", line) or not line, line
        assert line.startswith("#") or "#" not in line, f"a comment joined to a setting: {line}"
    assert "--extra-one" in rendered and "--extra-two" in rendered


@pytest.mark.parametrize("kind", KINDS)
def test_a_kinds_whole_unit_renders_to_unit_lines(kind):
    """The service template with the kind's command line included: no setting joined to a comment or another."""
    jinja = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"), trim_blocks=True, undefined=Placeholder
    )
    values = {
        "__asgi_server_kind": TABLE[kind],
        "__asgi_server_release": {"venv": "/srv/demo/venvs/v", "path": "/srv/demo/releases/r", "id": "r"},
        "asgi_server_kind": kind,
        "asgi_server_extra_args": [],
        "asgi_server_writable_paths": ["/srv/demo/shared/media"],
        "asgi_server_tls": False,
        "asgi_server_graceful_timeout": 30,
        "ansible_managed": "Ansible managed",
    }
    jinja.filters["comment"] = lambda text: f"# {text}"
    lines = jinja.get_template("asgi.service.j2").render(values).splitlines()
    assert "[Service]" in lines and "[Install]" in lines
    for number, line in enumerate(lines):
        continued = number > 0 and lines[number - 1].endswith("\\")
        setting = re.match(r"^\[[A-Za-z]+\]$|^[A-Z][A-Za-z]+=", line)
        assert continued or not line or line.startswith("#") or setting, line
        assert line.startswith("#") or "#" not in line.replace("$$", ""), f"a comment joined to a setting: {line}"
    starts = [line for line in lines if line.startswith(("ExecStartPre=", "ExecStartPost="))]
    assert bool(starts) == (not TABLE[kind]["socket_activation"]), starts


def test_the_readme_shows_the_table():
    readme = (ROOT / "README.md").read_text()
    assert kinds_table.readme_with_table(readme) == readme, "run tests/harness/kinds_table.py readme --write README.md"
    for kind in KINDS:
        assert f"| `{kind}` |" in readme


@pytest.mark.parametrize("kinds", [KINDS, ["a", "b", "c"], ["a", "b", "c", "d"], ["a", "b", "c", "d", "e"]])
def test_with_the_debian_13_runs_the_debian_12_host_makes_every_switch_once(kinds):
    """Each Debian 13 run switches its kind to the next in the table; the Debian 12 host makes every other switch.

    It goes through the table backwards first, so that its first visits are
    each kind once (the whole verify suite after each), then on through the
    switches left, each once.
    """
    order = kinds_table.switch_order(kinds)
    forwards = {(kind, kinds[(index + 1) % len(kinds)]) for index, kind in enumerate(kinds)}
    switches = list(itertools.pairwise(order))
    assert len(switches) == len(set(switches)), "a switch made twice"
    assert not forwards & set(switches)
    assert forwards | set(switches) == set(itertools.permutations(kinds, 2))
    assert order[: len(kinds)] == list(reversed(kinds))


def test_each_debian_13_host_goes_on_with_the_kind_its_deploys_under_load_switched_it_to():
    """A host's kinds follow the table, so that each kind's switch (to the next in the table) leads to the next."""
    runs = kinds_table.debian13_runs(KINDS)
    assert [kind for run in runs for kind in run] == KINDS
    for run in runs:
        assert 1 <= len(run) <= 2
        for kind, following in itertools.pairwise(run):
            assert KINDS[(KINDS.index(kind) + 1) % len(KINDS)] == following
    assert kinds_table.debian13_runs(["a", "b", "c"]) == [["a", "b"], ["c"]]
