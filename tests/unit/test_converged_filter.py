"""Unit tests for the filters that skip tasks whose target is already as wanted."""

import hashlib
import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "converged.py"
spec = importlib.util.spec_from_file_location("converged", PLUGIN)
converged = importlib.util.module_from_spec(spec)
spec.loader.exec_module(converged)

CONTENT = "KEY='value'\n"


def found(kind: str = "file", **fields) -> dict:
    """One path as asgi.stack.host_info reports it."""
    info = {"exists": True, "type": kind, "owner": "root", "group": "demo", "mode": "0640"}
    if kind == "file":
        info["checksum"] = hashlib.sha1(CONTENT.encode()).hexdigest()
    info.update(fields)
    return info


PROBE = {
    "paths": {
        "/etc/demo/env": found(),
        "/etc/demo/other": {"exists": False},
        "/srv/demo": found("directory", mode="0751"),
        "/srv/demo/releases": {"exists": False},
        "/srv/demo/shared/media": found("directory", owner="demo", mode="0755"),
        "/srv/demo/shared/data": found("directory", owner="demo", mode="0700"),
        "/etc/nginx/sites-enabled/demo.conf": found("link", mode="0777", target="/etc/nginx/sites-available/demo.conf"),
    },
    "changed": False,
}


def test_a_file_as_wanted_does_not_differ():
    assert not converged.differs(PROBE, "/etc/demo/env", owner="root", group="demo", mode="0640", content=CONTENT)


def test_attributes_not_given_are_not_compared():
    assert not converged.differs(PROBE, "/etc/demo/env")


@pytest.mark.parametrize(
    "wanted",
    [
        {"owner": "demo"},
        {"group": "root"},
        {"mode": "0644"},
        {"content": CONTENT + "MORE='x'\n"},
        {"content": CONTENT.rstrip("\n")},
        {"type": "directory"},
    ],
    ids=["owner", "group", "mode", "content", "trailing-newline", "type"],
)
def test_any_difference_is_seen(wanted):
    assert converged.differs(PROBE, "/etc/demo/env", **wanted)


def test_a_missing_path_differs():
    assert converged.differs(PROBE, "/etc/demo/other")


def test_a_path_the_probe_did_not_read_is_an_error():
    with pytest.raises(AnsibleFilterError, match="did not read '/etc/demo/unread'"):
        converged.differs(PROBE, "/etc/demo/unread")


def test_modes_compare_as_numbers_and_symbolic_modes_always_differ():
    assert not converged.differs(PROBE, "/srv/demo", type="directory", mode="751")
    assert not converged.differs(PROBE, "/srv/demo", type="directory", mode=0o751)
    assert converged.differs(PROBE, "/srv/demo", type="directory", mode="u=rwx,g=rx,o=x")


def test_links_are_a_type_of_their_own_with_a_target():
    link = "/etc/nginx/sites-enabled/demo.conf"
    assert not converged.differs(PROBE, link, type="link", target="/etc/nginx/sites-available/demo.conf")
    assert converged.differs(PROBE, link, type="link", target="/etc/nginx/sites-available/other.conf")
    assert converged.differs(PROBE, link, type="file")


def test_content_of_a_directory_and_target_of_a_file_are_refused():
    with pytest.raises(AnsibleFilterError, match="files only"):
        converged.differs(PROBE, "/srv/demo", type="directory", content="x")
    with pytest.raises(AnsibleFilterError, match="links only"):
        converged.differs(PROBE, "/etc/demo/env", target="/x")


def test_an_unknown_type_or_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="type must be one of"):
        converged.differs(PROBE, "/srv/demo", type="socket")
    with pytest.raises(AnsibleFilterError, match=r"asgi\.stack\.host_info"):
        converged.differs({"stat": {}}, "/srv/demo")


def test_differing_keeps_the_items_that_differ_with_per_item_attributes():
    items = [
        {"path": "/srv/demo/shared/media", "mode": "0755"},
        {"path": "/srv/demo/shared/data", "mode": "0750"},
        {"path": "/srv/demo/shared/media", "mode": "0700"},
    ]
    kept = converged.differing(items, PROBE, type="directory", owner="demo", group="demo")
    assert kept == items[1:]


def test_differing_takes_plain_paths():
    paths = ["/srv/demo", "/srv/demo/releases"]
    assert converged.differing(paths, PROBE, type="directory", owner="root", mode="0751") == ["/srv/demo/releases"]


def test_differing_compares_each_item_with_its_content():
    paths = ["/etc/demo/env", "/etc/demo/env"]
    kept = converged.differing(paths, PROBE, contents=[CONTENT, CONTENT + "more"])
    assert kept == ["/etc/demo/env"]
    assert converged.differing(paths[:1], PROBE, contents=[CONTENT]) == []


def test_differing_wants_one_content_per_item():
    with pytest.raises(AnsibleFilterError, match="1 contents for 2 items"):
        converged.differing(["/etc/demo/env", "/srv/demo"], PROBE, contents=["x"])
