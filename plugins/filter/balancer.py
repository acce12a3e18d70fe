# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The servers of an nginx upstream, and how a balancer reaches an app host (nginx_proxy, balancer).

Documented in upstream_servers.yml and endpoint.yml beside this file.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

HEADER = (
    "# Written by asgi.stack (nginx_proxy; during a rolling deploy, the balancer's drain):\n"
    "# the servers of the site's upstream, each listed once per try.\n"
)


def upstream_servers(upstream: Any, down: Any = None) -> str:
    """The lines of an upstream block: each server ``tries`` times, those in ``down`` marked down.

    ``upstream`` is nginx_proxy's output ``nginx_proxy_upstream``: ``servers`` (addresses as nginx's
    ``server`` directive takes them) and ``tries``. A server in ``down`` takes no new request, unless
    every server would be down: then none is (a drain never leaves a site without a server).
    """
    if not isinstance(upstream, dict) or not isinstance(upstream.get("servers"), (list, tuple)):
        raise AnsibleFilterError(f"upstream_servers expects a dict with a list of servers, got {upstream!r}")
    servers = [str(server) for server in upstream["servers"]]
    if not servers:
        raise AnsibleFilterError("upstream_servers: an upstream needs at least one server")
    tries = int(upstream.get("tries", 1))
    if tries < 1:
        raise AnsibleFilterError(f"upstream_servers: tries must be 1 or more, got {tries}")
    leaving = {str(server) for server in (down or [])} & set(servers)
    if leaving == set(servers):
        leaving = set()
    lines = [f"server {server} {'down' if server in leaving else 'max_fails=0'};" for server in servers * tries]
    return HEADER + "".join(line + "\n" for line in lines)


def endpoint(address: Any, port: Any) -> str:
    """``address:port`` as nginx's ``server`` directive takes it (an IPv6 address in brackets)."""
    try:
        parsed = ipaddress.ip_address(str(address))
    except ValueError as error:
        raise AnsibleFilterError(f"endpoint expects an IP address, got {address!r}") from error
    host = f"[{parsed}]" if parsed.version == 6 else str(parsed)
    return f"{host}:{int(port)}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"upstream_servers": upstream_servers, "endpoint": endpoint}
