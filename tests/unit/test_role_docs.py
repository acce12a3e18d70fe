"""The role READMEs and the argument specs (what ansible-doc shows) tell the same variables.

The specs are the one source: a README names only variables that a spec has, or facts that a
role publishes; every published fact is told in the role's spec (its main entry point's
description) and in its README. A renamed or removed variable fails here instead of
leaving a README that names it.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "meta" / "argument_specs.yml").exists())
# Longest first, so that a name is matched to django_app before a shorter prefix.
PREFIXES = sorted(ROLES, key=len, reverse=True)
NAME = re.compile(r"`((?:" + "|".join(PREFIXES) + r")_[a-z0-9_]+)`")
DOCUMENTS = [ROOT / "README.md", *(ROOT / "roles" / role / "README.md" for role in ROLES)]


def spec(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]


def options(role: str) -> set[str]:
    """The options of every entry point (main's, and those only another entry point takes, such as drain's)."""
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name for entry in specs.values() for name in (entry.get("options") or {})}


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def published(role: str) -> set[str]:
    """What the role publishes: set_fact names, and names in its vars/main.yml, without the private __ prefix."""
    variables = ROOT / "roles" / role / "vars" / "main.yml"
    names = {
        name
        for name in (yaml.safe_load(variables.read_text()) or {} if variables.exists() else {})
        if name.startswith(f"{role}_")
    }
    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        for task in walk(yaml.safe_load(path.read_text())):
            facts = task.get("ansible.builtin.set_fact") or task.get("set_fact")
            if isinstance(facts, dict):
                names |= {name for name in facts if name.startswith(f"{role}_") and name != "cacheable"}
    return names


def owner(name: str) -> str:
    return next(role for role in PREFIXES if name.startswith(f"{role}_"))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_documents_name_only_variables_the_specs_have(document: Path) -> None:
    unknown = []
    for name in sorted(set(NAME.findall(document.read_text()))):
        role = owner(name)
        if name not in options(role) and name not in published(role):
            unknown.append(f"{name} (no option or published fact of {role})")
    assert not unknown, unknown


@pytest.mark.parametrize("role", ROLES)
def test_published_facts_are_told_in_the_spec_and_the_readme(role: str) -> None:
    description = " ".join(spec(role).get("description") or [])
    readme = (ROOT / "roles" / role / "README.md").read_text()
    for name in sorted(published(role)):
        assert f"C({name})" in description, f"{role}'s spec does not tell the fact it publishes: {name}"
        assert f"`{name}`" in readme, f"roles/{role}/README.md does not tell the fact it publishes: {name}"


def test_the_check_finds_what_it_looks_for() -> None:
    # The facts of issue 13's roles, so that a change in the parsing cannot make the tests pass empty.
    assert {"django_app_health", "django_app_release", "django_app_rollback"} <= published("django_app")
    assert published("redis") == {"redis_url"}
    assert published("postgresql") == {"postgresql_connection"}
    assert "asgi_server_kinds" in published("asgi_server")
