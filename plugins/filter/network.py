# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses a service listens on and networks it accepts (asgi.stack.redis, asgi.stack.postgresql, the firewall).

Documented in not_ip_addresses.yml, not_ip_networks.yml, not_loopback.yml and host_networks.yml beside this file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError


def _rejected(name: str, items: Any, parse: Callable[[str], object]) -> list[Any]:
    """The items that are not strings ``parse`` accepts (it raises ValueError for the others)."""
    if not isinstance(items, (list, tuple)):
        raise AnsibleFilterError(f"{name} expects a list, got {type(items).__name__}")
    wrong = []
    for item in items:
        try:
            parse(item if isinstance(item, str) else "")
        except ValueError:
            wrong.append(item)
    return wrong


def _network(text: str) -> object:
    if "/" not in text:
        raise ValueError(f"{text!r} has no prefix")
    return ipaddress.ip_network(text, strict=False)


def not_ip_addresses(items: Any) -> list[Any]:
    """The items that are not an IPv4 or IPv6 address (host names, networks, ports, anything else)."""
    return _rejected("not_ip_addresses", items, ipaddress.ip_address)


def not_ip_networks(items: Any) -> list[Any]:
    """The items that are not an IPv4 or IPv6 network written as address/prefix (host bits may be set)."""
    return _rejected("not_ip_networks", items, _network)


def not_loopback(items: Any) -> list[Any]:
    """The items other hosts may reach: all but the loopback addresses (127.0.0.0/8, ::1).

    An item that is not an address is kept: the roles' checks name it.
    """
    if not isinstance(items, (list, tuple)):
        raise AnsibleFilterError(f"not_loopback expects a list, got {type(items).__name__}")
    kept = []
    for item in items:
        try:
            if ipaddress.ip_address(item).is_loopback:
                continue
        except (TypeError, ValueError):
            pass
        kept.append(item)
    return kept


def host_networks(items: Any) -> list[str]:
    """Each IP address as the network of that address alone (address/32, address/128)."""
    if not isinstance(items, (list, tuple)):
        raise AnsibleFilterError(f"host_networks expects a list, got {type(items).__name__}")
    try:
        return [str(ipaddress.ip_network(ipaddress.ip_address(item))) for item in items]
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError(f"host_networks expects IP addresses: {error}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "not_ip_addresses": not_ip_addresses,
            "not_ip_networks": not_ip_networks,
            "not_loopback": not_loopback,
            "host_networks": host_networks,
        }
