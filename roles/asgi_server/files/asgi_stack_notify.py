# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tells systemd that the server serves: READY=1 on the unit's notification socket.

systemd sets NOTIFY_SOCKET for a Type=notify unit; a server's processes
inherit it. Who may send: the main process (uvicorn's process manager,
files/asgi_stack_uvicorn.py), or any of the unit's processes where the unit
says NotifyAccess=all (a worker of hypercorn, once it has loaded the app,
from the application module hypercorn loads in each worker,
files/asgi_stack_proxy_fix.py). Outside a Type=notify unit, nothing is sent.
"""

from __future__ import annotations

import os
import socket


def notify_ready() -> None:
    """Sends READY=1 to systemd's notification socket (NOTIFY_SOCKET), if there is one."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.sendto(b"READY=1", address)
