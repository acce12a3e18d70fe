"""Unit tests for asgi.stack.broken_rule: a role's input rules in one task, the first broken one's message."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "validation.py"
spec = importlib.util.spec_from_file_location("validation", PLUGIN)
validation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(validation)


class Explodes(dict):
    """A rule that fails the test when read: the rules after a broken one are never evaluated."""

    def __getitem__(self, key):
        raise AssertionError(f"rule read after the broken one ({key})")

    def __contains__(self, key):
        raise AssertionError(f"rule read after the broken one ({key})")


def test_every_rule_holding_gives_an_empty_message():
    assert validation.broken_rule([{"ok": True, "msg": "a"}, {"ok": True, "msg": "b"}]) == ""
    assert validation.broken_rule([]) == ""


def test_the_first_broken_rule_gives_its_message_stripped():
    rules = [{"ok": True, "msg": "a"}, {"ok": False, "msg": " b is wrong.\n"}, {"ok": False, "msg": "c"}]
    assert validation.broken_rule(rules) == "b is wrong."


def test_the_rules_after_a_broken_one_are_not_read():
    assert validation.broken_rule(iter([{"ok": False, "msg": "first"}, Explodes()])) == "first"


@pytest.mark.parametrize("ok", ["False", "True", 0, 1, None])
def test_an_ok_that_is_not_a_boolean_is_refused(ok):
    with pytest.raises(AnsibleFilterError, match="rule 1 must be a boolean"):
        validation.broken_rule([{"ok": True, "msg": "a"}, {"ok": ok, "msg": "b"}])


@pytest.mark.parametrize("rules", ["ok", {"ok": True, "msg": "a"}, None, [{"ok": True}], [["ok", "msg"]]])
def test_anything_but_a_list_of_rules_is_refused(rules):
    with pytest.raises(AnsibleFilterError, match=r"asgi\.stack\.broken_rule"):
        validation.broken_rule(rules)
