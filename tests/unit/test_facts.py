"""The roles use three host facts, which they read without gathering every fact."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# Facts as the roles may write them: ansible_facts['x'], ansible_facts.x, or
# the injected ansible_x (magic variables such as ansible_check_mode are not facts).
FACT = re.compile(r"ansible_facts(?:\[['\"](\w+)['\"]\]|\.(\w+))")
INJECTED = re.compile(r"\bansible_(distribution\w*|os_\w+|processor\w*|memtotal_mb|default_ipv[46]|hostname|fqdn)\b")


def facts_used() -> set[str]:
    used = set()
    for path in (ROOT / "roles").rglob("*"):
        if path.suffix in {".yml", ".j2"} and path.is_file():
            text = path.read_text()
            used |= {a or b for a, b in FACT.findall(text)}
            used |= {f"ansible_{name}" for name in INJECTED.findall(text)}
    return used


def test_the_roles_use_only_the_facts_the_playbooks_read():
    assert facts_used() == {"distribution", "distribution_release", "processor_nproc"}


def test_the_playbooks_read_that_fact_instead_of_gathering():
    plays = 0
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(path.read_text()):
            if "hosts" in play:
                plays += 1
                assert play.get("gather_facts") is False, f"{path.name}: {play['name']}"
    assert plays >= 8


def test_the_deploy_role_reads_them_first_in_each_entry_point():
    tasks = ROOT / "roles" / "deploy" / "tasks"
    (reading,) = yaml.safe_load((tasks / "facts.yml").read_text())
    assert reading["asgi.stack.host_info"]["facts"] == sorted(facts_used())
    for entry_point in ("main.yml", "rollback.yml", "validate.yml"):
        first = yaml.safe_load((tasks / entry_point).read_text())[0]
        assert first["ansible.builtin.import_tasks"] == "facts.yml", entry_point


def test_the_roles_with_a_table_of_releases_read_the_release_first_in_their_checks():
    """On a host without the deploy role (a balancer, a database or Redis host), the role's checks read it."""
    for role in ("nginx_proxy", "postgresql", "redis"):
        first = yaml.safe_load((ROOT / "roles" / role / "tasks" / "validate.yml").read_text())[0]
        assert first["asgi.stack.host_info"]["facts"] == ["distribution", "distribution_release"], role
        assert first["when"] == "ansible_facts['distribution_release'] is not defined", role
