"""The oldest ansible-core the collection supports is named the same everywhere, and is the one the suite runs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def floor() -> str:
    required = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"]
    found = re.fullmatch(r">=(\d+\.\d+)\.0", required)
    assert found, f"requires_ansible is {required!r}: give the floor as '>=X.Y.0'"
    return found.group(1)


def test_every_role_names_the_collections_floor():
    for meta in sorted(ROOT.glob("roles/*/meta/main.yml")):
        assert str(yaml.safe_load(meta.read_text())["galaxy_info"]["min_ansible_version"]) == floor(), meta


def test_the_readme_names_the_floor():
    assert f"- Controller: ansible-core {floor()} or newer" in (ROOT / "README.md").read_text()


def test_the_suite_runs_the_floor():
    """tests/requirements.txt installs the ansible package whose ansible-core is the floor (ansible N carries 2.N+7)."""
    requirement = re.search(r"^ansible>=(\d+)\.\d+,<(\d+)$", (ROOT / "tests" / "requirements.txt").read_text(), re.M)
    assert requirement, "tests/requirements.txt pins no ansible package as 'ansible>=N.M,<N+1'"
    bundle, below = int(requirement.group(1)), int(requirement.group(2))
    assert below == bundle + 1
    assert f"2.{bundle + 7}" == floor()


def test_every_roles_readme_names_the_floor():
    for readme in sorted(ROOT.glob("roles/*/README.md")):
        named = re.findall(r"ansible-core (\d+\.\d+) or\s+newer", readme.read_text())
        assert named == [floor()], f"{readme.relative_to(ROOT)} names {named}, not the floor {floor()}"
