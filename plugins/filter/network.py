# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses a service listens on (asgi.stack.redis).

Documented in not_ip_addresses.yml beside this file.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError


def not_ip_addresses(items: Any) -> list[Any]:
    """The items that are not an IPv4 or IPv6 address (host names, networks, ports, anything else)."""
    if not isinstance(items, (list, tuple)):
        raise AnsibleFilterError(f"not_ip_addresses expects a list, got {type(items).__name__}")
    wrong = []
    for item in items:
        try:
            ipaddress.ip_address(item if isinstance(item, str) else "not a string")
        except ValueError:
            wrong.append(item)
    return wrong


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"not_ip_addresses": not_ip_addresses}
