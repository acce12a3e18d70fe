# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which hosts of a rolling deploy failed, and which went back (asgi.stack.deploy).

Documented in rollout_failures.yml and rollout_switched.yml beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

FACT = "deploy_rollout"


def _outcomes(hosts: Any, hostvars: Any) -> list[tuple[str, Mapping]]:
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError(f"rollout filters expect a list of hosts, got {type(hosts).__name__}")
    outcomes = []
    for host in hosts:
        outcome = hostvars[host].get(FACT) if host in hostvars else None
        if isinstance(outcome, Mapping):
            outcomes.append((str(host), outcome))
    return outcomes


def rollout_failures(hosts: Any, hostvars: Any) -> list[dict[str, str]]:
    """The hosts whose batch failed (their deploy_rollout says failed), each with the task and error."""
    return [
        {"host": host, "task": str(outcome.get("task", "")), "error": str(outcome.get("error", ""))}
        for host, outcome in _outcomes(hosts, hostvars)
        if outcome.get("failed")
    ]


def rollout_switched(hosts: Any, hostvars: Any) -> list[dict[str, str]]:
    """The hosts that switched to a new release in the rollout: host, release, previous."""
    return [
        {"host": host, "release": str(outcome.get("release", "")), "previous": str(outcome.get("previous", ""))}
        for host, outcome in _outcomes(hosts, hostvars)
        if not outcome.get("failed") and outcome.get("switched")
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"rollout_failures": rollout_failures, "rollout_switched": rollout_switched}
