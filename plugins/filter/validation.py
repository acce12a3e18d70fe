# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's input rules checked in one task: the message of the first rule broken.

A role's rules were an assert task each, and each task costs a worker process
on the controller whether it passes or not (about 30 ms: 45 of them were a
quarter of a deploy that changes nothing). One task over a list of rules
gives the same message as the task of the first broken rule did: a fail task
whose ``when`` is this filter's result, skipped when every rule holds (the
fail_msg of an assert task is rendered, every rule again, even when it
passes). The list is read lazily, in order: a rule is evaluated only once every rule before it
holds, so a rule may rely on the ones before it (a number is a number before
it is compared). Documented in broken_rule.yml beside this file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def broken_rule(rules: Iterable[Mapping[str, Any]]) -> str:
    """The ``msg`` of the first rule whose ``ok`` is false; empty when every rule holds."""
    if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Iterable):
        raise AnsibleFilterError("asgi.stack.broken_rule takes a list of rules, each a dictionary with ok and msg")
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping) or "ok" not in rule or "msg" not in rule:
            raise AnsibleFilterError(f"asgi.stack.broken_rule: rule {index} is not a dictionary with ok and msg")
        ok = rule["ok"]
        # A template that renders to the string 'False' is true: refuse anything but a boolean.
        if not isinstance(ok, bool):
            raise AnsibleFilterError(
                f"asgi.stack.broken_rule: the ok of rule {index} must be a boolean, got {type(ok).__name__} {ok!r}"
            )
        if not ok:
            return str(rule["msg"]).strip()
    return ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"broken_rule": broken_rule}
