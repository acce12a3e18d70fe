"""After a reboot the host serves the app as the deploy left it.

The container is restarted (its /run is a tmpfs, emptied as at a boot): systemd brings back nginx,
the server's socket and services, tmpfiles.d the socket's directory; the keys, the environment
file and the socket keep their owners and modes, and the page and a WebSocket answer.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from conftest import (
    CA_FILE,
    ENV_FILE,
    KIND,
    KINDS,
    ORIGIN,
    SOCKETS,
    TLS_DIR,
    UNITS,
    curl,
)

# One run proves it: Debian 13, the first kind, reached with docker exec (a restart of the
# container keeps its name; a host reached over SSH may come back on another port).
pytestmark = [
    pytest.mark.reboot,
    pytest.mark.skipif(
        os.environ.get("ASGI_STACK_DISTRO") != "debian13"
        or KIND != KINDS[0]
        or os.environ.get("ASGI_STACK_CONNECTION", "docker") not in ("docker", "mitogen"),
        reason="runs once, on Debian 13 with the first kind, over docker exec",
    ),
]


def kept(host) -> dict[str, str]:
    """Owner, group and mode of what must come back as it was."""
    paths = [f"{TLS_DIR}/privkey.pem", f"{TLS_DIR}/fullchain.pem", ENV_FILE, os.path.dirname(SOCKETS[0]), *SOCKETS]
    return {path: host.check_output(f"stat -c '%F %U %G %a' {path}") for path in paths}


def test_a_reboot_brings_back_the_site_as_it_was(host):
    units = ["nginx.service", *UNITS]
    before = kept(host)
    # /run is emptied by a boot: this file must be gone after.
    host.run("touch /run/asgi-stack-before-reboot")
    name = host.backend.get_hostname()
    subprocess.run(["docker", "restart", "--time", "30", name], check=True, capture_output=True, timeout=120)
    deadline = time.monotonic() + 120
    while True:
        state = host.run("systemctl is-system-running --wait").stdout.strip()
        if state in ("running", "degraded") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert state == "running", host.run("systemctl --failed --no-legend").stdout
    for unit in units:
        assert host.service(unit).is_running, unit
        assert host.service(unit).is_enabled, unit
    assert kept(host) == before
    deadline = time.monotonic() + 60
    while curl(host, f"{ORIGIN}/health/").status != 200 and time.monotonic() < deadline:
        time.sleep(1)
    page = curl(host, f"{ORIGIN}/")
    assert page.status == 200
    assert "asgi.stack demo" in page.body
    assert not host.file("/run/asgi-stack-before-reboot").exists, "the host did not boot afresh"
    assert host.file(CA_FILE).exists
