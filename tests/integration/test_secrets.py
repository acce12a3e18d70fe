"""No secret shows in a deploy's output at any verbosity, nor in a file any local user may read.

The secrets are the test inventory's (tests/harness/group_vars): the app's SECRET_KEY, a secret
of its environment, the PostgreSQL and Redis passwords, and one more that the deploy below adds.
"""

from __future__ import annotations

import shlex
import uuid

import pytest
import yaml
from conftest import AT_VVVV, ENV_FILE, ON_DEBIAN_12_ONCE, ORIGIN, ROOT, curl, run_playbook, where

# One run proves it for all kinds: on the Debian 12 host, which also runs PostgreSQL and Redis.
pytestmark = [pytest.mark.secrets, ON_DEBIAN_12_ONCE]

HARNESS = ROOT / "tests" / "harness" / "group_vars"


def harness(path: str) -> dict:
    return yaml.safe_load((HARNESS / path).read_text())


APP_VARS = harness("asgi_app/tests.yml")
SECRET_ENVIRONMENT = APP_VARS["django_app_secret_environment"]
SECRETS = {
    "django_app_secret_key": harness("asgi_app/demo.yml")["django_app_secret_key"],
    "postgresql_password": harness("asgi_db/demo.yml")["postgresql_password"],
    "redis_password": harness("asgi_redis/demo.yml")["redis_password"],
    **SECRET_ENVIRONMENT,
}


def test_a_deploy_at_the_highest_verbosity_shows_no_secret(host):
    """A deploy that writes the environment file, prepares the release and restarts the server, run with -vvvv.

    The added secret goes in a file of extra variables, as secrets do (a vault): ansible-playbook itself
    prints the extra variables of its command line at -vvvv.
    """
    added = f"added-{uuid.uuid4().hex}"
    secrets = {**SECRETS, "DEMO_ADDED_SECRET": added}
    try:
        result = run_playbook(
            "site.yml", {"django_app_secret_environment": {**SECRET_ENVIRONMENT, "DEMO_ADDED_SECRET": added}}, "-vvvv"
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert "DEMO_ADDED_SECRET" in host.file(ENV_FILE).content_string, "the deploy did not write the secret"
        assert AT_VVVV in output, "not the output of -vvvv"
        shown = {name: where(output, value) for name, value in secrets.items() if where(output, value)}
        assert shown == {}, f"secrets in the output: {shown}"
    finally:
        # The host as the suite left it, without the added secret.
        restored = run_playbook("site.yml", {})
        assert restored.returncode == 0, (restored.stdout + restored.stderr)[-3000:]
    assert curl(host, f"{ORIGIN}/health/").status == 200


def test_no_secret_is_in_a_file_any_local_user_may_read(host):
    """What the user nobody can read holds none of the secrets; the environment file is root's and the app group's."""
    patterns = " ".join(f"-e {shlex.quote(value)}" for value in SECRETS.values())
    places = "/etc /srv /var /opt /usr/local /tmp /run /home /root"
    # grep says 1 when it found nothing, 2 when it also met files it may not read.
    found = host.run(f"runuser -u nobody -- grep -rlsF {patterns} {places}")
    assert found.rc in (1, 2) and found.stdout == "", f"readable by anyone: {found.stdout}"
    # The environment file does hold them, readable by root and the app's group only.
    assert host.file(ENV_FILE).mode == 0o640
