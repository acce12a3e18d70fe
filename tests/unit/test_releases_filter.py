"""Unit tests for the filter that chooses the releases a deploy removes."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "releases.py"
spec = importlib.util.spec_from_file_location("releases", PLUGIN)
releases = importlib.util.module_from_spec(spec)
spec.loader.exec_module(releases)

ROOT = "/srv/demo/releases"


def found(*names_oldest_first: str) -> list[dict]:
    return [{"path": f"{ROOT}/{name}", "mtime": float(age)} for age, name in enumerate(names_oldest_first)]


def prune(found_releases, keep, current, previous=""):
    path = f"{ROOT}/{{}}".format
    names = releases.releases_to_prune(found_releases, keep, path(current), path(previous) if previous else "")
    return sorted(name.rsplit("/", 1)[1] for name in names)


def test_the_newest_are_kept_with_current_and_previous():
    assert prune(found("a", "b", "c", "d", "e"), 3, current="e", previous="d") == ["a", "b"]


def test_current_and_previous_stay_however_old():
    # After a rollback the current release may be the oldest.
    assert prune(found("a", "b", "c", "d", "e"), 2, current="a", previous="e") == ["b", "c", "d"]


def test_keeping_one_keeps_the_previous_too():
    assert prune(found("a", "b", "c"), 1, current="c", previous="b") == ["a"]


def test_without_a_previous_release_the_newest_others_fill_the_room():
    assert prune(found("a", "b", "c", "d"), 2, current="d") == ["a", "b"]


def test_nothing_to_prune_when_fewer_than_kept():
    assert prune(found("a", "b"), 5, current="b", previous="a") == []


def test_keep_must_be_a_positive_number():
    with pytest.raises(AnsibleFilterError, match="1 or more"):
        prune(found("a"), 0, current="a")
    with pytest.raises(AnsibleFilterError, match="whole number"):
        prune(found("a"), "many", current="a")


def test_virtualenvs_no_release_links_to_are_pruned():
    venvs = [{"path": "/srv/demo/venvs/aaa"}, {"path": "/srv/demo/venvs/bbb"}, {"path": "/srv/demo/venvs/ccc"}]
    links = {
        "paths": {
            f"{ROOT}/r1/venv": {"exists": True, "type": "link", "target": "/srv/demo/venvs/aaa"},
            f"{ROOT}/r2/venv": {"exists": True, "type": "link", "target": "/srv/demo/venvs/ccc/"},
            # A release from before virtualenvs were shared has one of its own.
            f"{ROOT}/r0/venv": {"exists": True, "type": "directory"},
        }
    }
    assert releases.venvs_to_prune(venvs, links) == ["/srv/demo/venvs/bbb"]


def test_venvs_to_prune_needs_the_probe():
    with pytest.raises(AnsibleFilterError, match="host_info"):
        releases.venvs_to_prune([], {"files": []})


def test_a_switch_makes_the_release_that_was_current_the_previous_one():
    old, new, older = "/srv/app/releases/a", "/srv/app/releases/b", "/srv/app/releases/z"
    assert releases.previous_release(old, new, True, older) == old
    assert releases.previous_release(old, old, False, older) == older, "no switch: the previous link stays"
    assert releases.previous_release("", new, True, "") == "", "a first release has nothing to go back to"
    assert releases.previous_release(new, new, True, older) == older
    assert releases.previous_release(old, new, "False", older) == older


LINKS = {"current": "/srv/app/current", "previous": "/srv/app/previous"}


def probe(current: str = "", previous: str = "", manifests: tuple[str, ...] = ()) -> dict:
    paths = {
        LINKS["current"]: {"exists": bool(current), **({"target": current} if current else {})},
        LINKS["previous"]: {"exists": bool(previous), **({"target": previous} if previous else {})},
    }
    paths |= {f"{ROOT}/{name}/release.json": {"exists": True} for name in manifests}
    return {"paths": paths}


def target(found: dict, asked: str = "") -> dict:
    return releases.rollback_target(found, LINKS["current"], LINKS["previous"], ROOT, asked)


def test_a_rollback_goes_to_the_previous_release_or_the_one_asked_for():
    found = probe(f"{ROOT}/b", f"{ROOT}/a", manifests=("a", "b", "c"))
    assert target(found) == {"from": f"{ROOT}/b", "to": f"{ROOT}/a", "problem": ""}
    assert target(found, "c") == {"from": f"{ROOT}/b", "to": f"{ROOT}/c", "problem": ""}


def test_a_rollback_says_why_it_cannot_go_there():
    first = probe(f"{ROOT}/a")
    assert target(first)["problem"] == "there is no such release", "a first release has no previous one"
    found = probe(f"{ROOT}/b", f"{ROOT}/a", manifests=("a", "b"))
    assert target(found, "zzz")["problem"] == "there is no such release"
    assert target(found, "b")["problem"] == "it is the current one"
    with pytest.raises(AnsibleFilterError, match="host_info"):
        releases.rollback_target({}, LINKS["current"], LINKS["previous"], ROOT)
