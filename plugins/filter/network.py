# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses a service listens on and networks it accepts (asgi.stack.redis, asgi.stack.postgresql).

Documented in not_ip_addresses.yml and not_ip_networks.yml beside this file.
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


def not_ip_networks(items: Any) -> list[Any]:
    """The items that are not an IPv4 or IPv6 network written as address/prefix (host bits may be set)."""
    if not isinstance(items, (list, tuple)):
        raise AnsibleFilterError(f"not_ip_networks expects a list, got {type(items).__name__}")
    wrong = []
    for item in items:
        try:
            if not isinstance(item, str) or "/" not in item:
                raise ValueError(item)
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            wrong.append(item)
    return wrong


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"not_ip_addresses": not_ip_addresses, "not_ip_networks": not_ip_networks}
