"""A re-run puts back what was changed by hand.

The roles skip every task whose target one probe found as wanted (content,
owner, group, mode, link target, units running). This checks that the probe
sees each kind of change: files, directories, links, units and the packages
record are changed by hand, playbooks/site.yml runs again, and each is as the
deploy left it, with the page served.
"""

from __future__ import annotations

import pytest
from conftest import APP, APP_HOME, ENV_FILE, MANAGE, ON_DEBIAN_12_ONCE, ORIGIN, SOCKET, UNIT, curl, run_site

# One run proves it for all: the probe does not depend on the kind or the
# distribution. The Debian 12 run with the default kind (over SSH in the suite).
pytestmark = [pytest.mark.repair, ON_DEBIAN_12_ONCE]

SITE = f"/etc/nginx/sites-available/{APP}.conf"
SITE_LINK = f"/etc/nginx/sites-enabled/{APP}.conf"
SERVICE_FILE = f"/etc/systemd/system/{UNIT}.service"
TMPFILES = f"/etc/tmpfiles.d/{UNIT}.conf"
MEDIA = f"{APP_HOME}/shared/media"
CA = "/etc/asgi-stack/tls/site/ca.pem"


def state(host, path: str) -> str:
    """Type, owner, group, mode and content (or link target) of a path, as one comparable line."""
    kind = host.check_output(f"stat -c '%F %U %G %a' {path}")
    if host.file(path).is_symlink:
        return f"{kind} -> {host.file(path).linked_to}"
    if host.file(path).is_file:
        return f"{kind} {host.check_output(f'sha1sum {path}').split()[0]}"
    return kind


def test_a_rerun_repairs_what_was_changed_by_hand(host):
    paths = [ENV_FILE, MANAGE, SITE, SITE_LINK, SERVICE_FILE, TMPFILES, MEDIA, CA, SOCKET.rsplit("/", 1)[0]]
    before = {path: state(host, path) for path in paths}
    release = host.file(f"{APP_HOME}/current").linked_to
    for command in (
        f"echo 'TAMPERED=1' >> {ENV_FILE}",
        f"chmod 0644 {ENV_FILE}",
        f"echo '# tampered' >> {MANAGE}",
        f"echo '# tampered' >> {SITE}",
        f"rm {SITE_LINK}",
        f"chmod 0600 {SERVICE_FILE}",
        f"rm {TMPFILES}",
        f"chown root {MEDIA}",
        f"echo tampered > {CA}",
        f"chmod 0755 {SOCKET.rsplit('/', 1)[0]}",
        f"rm {release}/venv/asgi-stack-server-packages.txt",
        "systemctl disable --now nginx",
    ):
        assert host.run(command).rc == 0, command

    result = run_site({})
    assert result.returncode == 0, result.stdout[-3000:]

    after = {path: state(host, path) for path in paths}
    assert after == before
    assert host.file(f"{release}/venv/asgi-stack-server-packages.txt").exists
    assert host.service("nginx").is_enabled
    assert curl(host, f"{ORIGIN}/").status == 200
