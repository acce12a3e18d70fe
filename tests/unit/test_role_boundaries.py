"""Roles hand values to each other through documented variables, never through another role's private (__) names."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "tasks").is_dir())
PRIVATE = re.compile(r"\b__(" + "|".join(ROLES) + r")_\w+")
# Where another role's private names may not appear: the other roles, the
# playbooks, the scenarios' playbooks and the tests' harness.
PLACES = ["roles", "playbooks", "molecule", "tests/harness", "tests/integration"]


def files():
    for place in PLACES:
        for path in sorted((ROOT / place).rglob("*")):
            if path.is_file() and path.suffix in {".yml", ".yaml", ".j2", ".py"}:
                yield path


def test_no_file_reads_another_roles_private_names():
    offenders = {}
    for path in files():
        parts = path.relative_to(ROOT).parts
        own = parts[1] if parts[0] == "roles" else None
        foreign = sorted({match.group(0) for match in PRIVATE.finditer(path.read_text()) if match.group(1) != own})
        if foreign:
            offenders[str(path.relative_to(ROOT))] = foreign
    assert not offenders, f"publish what these need as documented outputs: {offenders}"


def test_the_rule_sees_a_foreign_name():
    assert PRIVATE.search("{{ __django_app_rollback_to }}")
    assert len(list(files())) > 20
