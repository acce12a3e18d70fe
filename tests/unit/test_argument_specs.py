"""Every role's argument spec documents exactly the variables its defaults set."""

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p.parent.parent for p in Path(__file__).resolve().parents[2].glob("roles/*/meta/argument_specs.yml"))


def load(role: Path) -> tuple[dict, dict]:
    # A role with no variables of its own (deploy) has no defaults file.
    path = role / "defaults" / "main.yml"
    defaults = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return defaults, spec


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_spec_lists_exactly_the_defaults(role: Path) -> None:
    defaults, spec = load(role)
    assert set(spec["main"]["options"]) == set(defaults)


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_spec_defaults_equal_the_role_defaults(role: Path) -> None:
    defaults, spec = load(role)
    for name, option in spec["main"]["options"].items():
        value = defaults[name]
        if "{{" in str(value):
            # ansible-core templates the spec, so a derived default is told in
            # words instead, where it cannot fail on another role's variable.
            assert "default" not in option, name
            assert any(line.startswith("Default:") for line in option["description"]), name
        else:
            assert option.get("default") == value, name


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_every_option_is_typed_and_described(role: Path) -> None:
    _dummy, spec = load(role)
    for name, option in spec["main"]["options"].items():
        assert option.get("type"), name
        assert option.get("description"), name
        assert name.startswith(role.name + "_"), f"{name} does not carry the role's prefix"


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_validate_entry_point_takes_the_same_options(role: Path) -> None:
    _dummy, spec = load(role)
    assert spec["validate"]["options"] == spec["main"]["options"]
