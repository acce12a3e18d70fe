"""What differs per distribution release lives in one table per role, with an entry for every supported release."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "distribution.py"
spec = importlib.util.spec_from_file_location("distribution", PLUGIN)
distribution = importlib.util.module_from_spec(spec)
spec.loader.exec_module(distribution)
supported_releases = distribution.supported_releases

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "meta" / "main.yml").is_file())


def load(role: str, *parts: str):
    return yaml.safe_load((ROOT / "roles" / role / Path(*parts)).read_text())


def platforms(role: str) -> list[str]:
    """The releases the role's meta/main.yml names, each by its codename."""
    return [
        version
        for platform in load(role, "meta", "main.yml")["galaxy_info"]["platforms"]
        for version in platform["versions"]
    ]


def tables() -> dict[str, dict]:
    found = {}
    for role in ROLES:
        variables = load(role, "vars", "main.yml") or {}
        if f"__{role}_releases" in variables:
            found[role] = variables[f"__{role}_releases"]
    return found


def test_every_role_supports_the_same_releases():
    assert {role: platforms(role) for role in ROLES} == dict.fromkeys(ROLES, platforms("deploy"))
    assert platforms("deploy") == ["bookworm", "trixie", "jammy", "noble", "resolute"]


def test_the_roles_that_install_what_differs_per_release_have_a_table():
    assert sorted(tables()) == ["nginx_proxy", "postgresql", "redis"]


@pytest.mark.parametrize("role", sorted(tables()))
def test_a_table_has_an_entry_for_every_supported_release_and_the_same_facts_in_each(role):
    table = tables()[role]
    assert list(table) == platforms(role)
    facts = {tuple(sorted(entry)) for entry in table.values()}
    assert len(facts) == 1, f"{role}: entries with different facts: {facts}"


def test_the_tables_name_each_release_alike():
    names = {role: {release: entry["name"] for release, entry in table.items()} for role, table in tables().items()}
    expected = {
        "bookworm": "Debian 12",
        "trixie": "Debian 13",
        "jammy": "Ubuntu 22.04",
        "noble": "Ubuntu 24.04",
        "resolute": "Ubuntu 26.04",
    }
    assert names == {role: expected for role in names}


@pytest.mark.parametrize("role", sorted(tables()))
def test_the_release_to_assume_is_one_of_the_table_or_none(role):
    spec = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"][f"{role}_assume_release"]
    assert spec["choices"] == ["", *tables()[role]]
    assert spec["default"] == load(role, "defaults", "main.yml")[f"{role}_assume_release"] == ""


def test_universe_packages_are_ubuntus_and_packages_the_role_installs():
    for role, table in tables().items():
        variables = load(role, "vars", "main.yml")
        installed = str(variables.get(f"__{role}_packages", variables.get(f"__{role}_package")))
        for release, entry in table.items():
            for package in entry.get("universe", []):
                assert entry["name"].startswith("Ubuntu"), f"{role}: {release}"
                assert package in installed, f"{role}: {package} is not one of its packages ({installed})"


def test_a_message_names_the_supported_releases_in_the_tables_order():
    table = tables()["redis"]
    assert supported_releases(table) == (
        "bookworm (Debian 12), trixie (Debian 13), jammy (Ubuntu 22.04), noble (Ubuntu 24.04), resolute (Ubuntu 26.04)"
    )
    with pytest.raises(AnsibleFilterError, match="each with its name"):
        supported_releases({"bookworm": {}})
