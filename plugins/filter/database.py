# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connections the app's server processes may hold to its database, and the rules that let them in
(asgi.stack.postgresql).

Documented in database_connections.yml and hba_rules_missing.yml beside this file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# A reload, or a switch of server kind, starts new processes while the old ones
# finish their requests: for a moment both hold their pools.
OVERLAP = 2
# For everything but the app's servers: migrations and other manage.py
# commands, the PostgreSQL superuser's reserved connections (3), a console.
RESERVE = 10


def _whole(name: str, value: Any, least: int) -> int:
    where = "asgi.stack.database_connections"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{where}: {name} must be a whole number, got '{value}'") from None
    if number < least:
        raise AnsibleFilterError(f"{where}: {name} must be {least} or more, got {number}")
    return number


def database_connections(app_hosts: Iterable[str], hostvars: Mapping[str, Any], pool_size: Any) -> int:
    """The connections the app hosts' server processes may hold at once, plus a reserve; 0 if none is known.

    Each app host publishes ``asgi_server_processes`` (asgi.stack.asgi_server's
    checks): the server processes it runs, each with a pool of ``pool_size``
    connections at most. An app host without it (left out of this run, with
    ``--limit``) counts as the largest known one, since app hosts are alike.
    """
    if isinstance(app_hosts, (str, bytes)) or not isinstance(app_hosts, Iterable):
        raise AnsibleFilterError("asgi.stack.database_connections expects the list of app hosts")
    pool = _whole("pool_size", pool_size, 1)
    hosts = list(app_hosts)
    known = [
        _whole(f"asgi_server_processes of {host}", hostvars[host]["asgi_server_processes"], 1)
        for host in hosts
        if host in hostvars and "asgi_server_processes" in hostvars[host]
    ]
    if not known:
        return 0
    processes = sum(known) + max(known) * (len(hosts) - len(known))
    return processes * pool * OVERLAP + RESERVE


def hba_rules_missing(clients: Any, hba: Any, database: str, user: str, method: str = "scram-sha-256") -> list:
    """The pg_hba.conf rules the app's networks ``clients`` need that ``hba`` (the file's text; None when there
    is none) lacks: each ``{'contype': ..., 'address': ...}``, ``host`` from the loopback, else ``hostssl``
    (TLS only), for ``database`` and ``user`` with ``method``."""
    where = "asgi.stack.hba_rules_missing"
    if not isinstance(clients, (list, tuple)):
        raise AnsibleFilterError(f"{where}: the clients must be a list of networks, got {type(clients).__name__}")
    present = set()
    for line in str(hba or "").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 5 and fields[0] in ("host", "hostssl"):
            present.add(tuple(fields[:5]))
    missing = []
    for client in clients:
        try:
            loopback = ipaddress.ip_network(str(client), strict=False).is_loopback
        except ValueError:
            raise AnsibleFilterError(f"{where}: {client!r} is not a network") from None
        rule = {"contype": "host" if loopback else "hostssl", "address": str(client)}
        if (rule["contype"], database, user, rule["address"], method) not in present:
            missing.append(rule)
    return missing


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"database_connections": database_connections, "hba_rules_missing": hba_rules_missing}
