"""A re-run at ``-vvvv`` puts back what was changed by hand, and shows no secret in its output or in a file.

The roles skip every task whose target one probe found as wanted (content,
owner, group, mode, link target, units running). The re-run checks that the
probe sees each kind of change: files, directories, links, units and the
packages record are changed by hand, playbooks/site.yml runs again, and each
is as the deploy left it, with the page served. At least one target of each
group of tasks that a converged host skips as one include (the roles' vars,
__<role>_<group>_changes) is among them: the environment, the layout, the
units, nginx's sandbox and site, the certificate's directory and CA file.

The same run, at the highest verbosity and adding a secret to the app's
environment (so it writes the environment file, prepares the release and
restarts the server besides what it repairs), shows none of the secrets in its
output: the inventory's (tests/harness/group_vars: the app's SECRET_KEY, a
secret of its environment, the PostgreSQL and Redis passwords) and the one it
adds. Nor does any file that the user nobody may read. The added secret stays
in the environment file (a run of these tests again replaces it).

One run proves it for all kinds: the probe and the output depend on neither
the kind nor the distribution. The Debian 12 host with the default kind, over
SSH in the suite, which also runs PostgreSQL and Redis.
"""

from __future__ import annotations

import shlex
import uuid

import pytest
import yaml
from conftest import (
    APP,
    APP_HOME,
    AT_VVVV,
    ENV_FILE,
    MANAGE,
    ON_DEBIAN_12_ONCE,
    ORIGIN,
    ROOT,
    SOCKET,
    UNIT,
    curl,
    run_playbook,
    where,
)

pytestmark = ON_DEBIAN_12_ONCE

HARNESS = ROOT / "tests" / "harness" / "group_vars"


def harness(path: str) -> dict:
    return yaml.safe_load((HARNESS / path).read_text())


SECRET_ENVIRONMENT = harness("asgi_app/tests.yml")["django_app_secret_environment"]
SECRETS = {
    "django_app_secret_key": harness("asgi_app/demo.yml")["django_app_secret_key"],
    "postgresql_password": harness("asgi_db/demo.yml")["postgresql_password"],
    "redis_password": harness("asgi_redis/demo.yml")["redis_password"],
    **SECRET_ENVIRONMENT,
}
# The secret the re-run adds to the app's environment.
ADDED = "DEMO_ADDED_SECRET"

SITE = f"/etc/nginx/sites-available/{APP}.conf"
SITE_LINK = f"/etc/nginx/sites-enabled/{APP}.conf"
SERVICE_FILE = f"/etc/systemd/system/{UNIT}.service"
TMPFILES = f"/etc/tmpfiles.d/{UNIT}.conf"
MEDIA = f"{APP_HOME}/shared/media"
CERTIFICATE_DIR = "/etc/asgi-stack/tls/site"
CA = f"{CERTIFICATE_DIR}/ca.pem"
SANDBOX = "/etc/systemd/system/nginx.service.d/asgi-stack-hardening.conf"
PATHS = [
    ENV_FILE,
    MANAGE,
    SITE,
    SITE_LINK,
    SERVICE_FILE,
    TMPFILES,
    MEDIA,
    CA,
    CERTIFICATE_DIR,
    SANDBOX,
    SOCKET.rsplit("/", 1)[0],
]


def state(host, path: str) -> str:
    """Type, owner, group, mode and content (or link target) of a path, as one comparable line.

    The environment file's content without the added secret's line, which the re-run writes anew.
    """
    kind = host.check_output(f"stat -c '%F %U %G %a' {path}")
    if host.file(path).is_symlink:
        return f"{kind} -> {host.file(path).linked_to}"
    if host.file(path).is_file:
        return f"{kind} {host.check_output(f'grep -v ^{ADDED}= {path} | sha1sum').split()[0]}"
    return kind


@pytest.fixture(scope="module")
def rerun(host) -> dict:
    """Changes by hand, then site.yml at -vvvv with a secret added: the states before, the output, the secret."""
    before = {path: state(host, path) for path in PATHS}
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
        f"chmod 0755 {CERTIFICATE_DIR}",
        f"chmod 0600 {SANDBOX}",
        f"chmod 0755 {SOCKET.rsplit('/', 1)[0]}",
        f"rm {release}/venv/asgi-stack-server-packages.txt",
        "systemctl disable --now nginx",
    ):
        assert host.run(command).rc == 0, command
    added = f"added-{uuid.uuid4().hex}"
    # The added secret goes in a file of extra variables, as secrets do (a
    # vault): ansible-playbook itself prints its command line's at -vvvv.
    result = run_playbook("site.yml", {"django_app_secret_environment": {**SECRET_ENVIRONMENT, ADDED: added}}, "-vvvv")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return {"before": before, "release": release, "output": output, "added": added}


@pytest.mark.repair
def test_a_rerun_repairs_what_was_changed_by_hand(host, rerun):
    after = {path: state(host, path) for path in PATHS}
    assert after == rerun["before"]
    assert "TAMPERED" not in host.file(ENV_FILE).content_string
    assert host.file(f"{rerun['release']}/venv/asgi-stack-server-packages.txt").exists
    assert host.service("nginx").is_enabled
    assert curl(host, f"{ORIGIN}/").status == 200


@pytest.mark.secrets
def test_a_deploy_at_the_highest_verbosity_shows_no_secret(host, rerun):
    output = rerun["output"]
    assert f"{ADDED}={rerun['added']}" in host.file(ENV_FILE).content_string, "the deploy did not write the secret"
    assert AT_VVVV in output, "not the output of -vvvv"
    secrets = {**SECRETS, ADDED: rerun["added"]}
    shown = {name: where(output, value) for name, value in secrets.items() if where(output, value)}
    assert shown == {}, f"secrets in the output: {shown}"
    assert curl(host, f"{ORIGIN}/health/").status == 200


@pytest.mark.secrets
def test_no_secret_is_in_a_file_any_local_user_may_read(host, rerun):
    """What the user nobody can read holds none of the secrets; the environment file is root's and the app group's."""
    secrets = [*SECRETS.values(), rerun["added"]]
    patterns = " ".join(f"-e {shlex.quote(value)}" for value in secrets)
    places = "/etc /srv /var /opt /usr/local /tmp /run /home /root"
    # grep says 1 when it found nothing, 2 when it also met files it may not read.
    found = host.run(f"runuser -u nobody -- grep -rlsF {patterns} {places}")
    assert found.rc in (1, 2) and found.stdout == "", f"readable by anyone: {found.stdout}"
    # The environment file does hold them, readable by root and the app's group only.
    assert host.file(ENV_FILE).mode == 0o640
