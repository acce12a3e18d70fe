"""The redis role alone: the app's ACL user runs what the Channels layer needs with its password, and nobody
gets in without one.

Runs in the redis scenario (molecule/redis): Redis on the loopback, the
role's defaults but the harness's password.
"""

from __future__ import annotations

import os

import pytest
import yaml
from conftest import ROOT, redis_cli

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(os.environ.get("MOLECULE_SCENARIO_NAME") != "redis", reason="runs in the redis scenario"),
]

PASSWORD = yaml.safe_load((ROOT / "tests" / "harness" / "group_vars" / "asgi_redis" / "demo.yml").read_text())[
    "redis_password"
]
USER = yaml.safe_load((ROOT / "roles" / "redis" / "defaults" / "main.yml").read_text())["redis_user"]


def redis(host, *command: str, user: str | None = USER, password: str = PASSWORD) -> str:
    """One command as ``user`` (none: without logging in) with conftest's redis_cli; what it printed."""
    login = ["--user", user, "--pass", password, "--no-auth-warning"] if user else []
    return redis_cli(host, *login, *command).strip()


def test_the_apps_user_runs_what_the_channels_layer_sends_and_receives(host):
    """channels-redis sends with Lua scripts into sorted sets and receives with BZPOPMIN."""
    key = "asgi-test:channel"
    assert redis(host, "PING") == "PONG"
    assert redis(host, "EVAL", "return redis.call('ZADD', KEYS[1], 1, ARGV[1])", "1", key, "hello") == "1"
    assert redis(host, "EXPIRE", key, "60") == "1"
    assert redis(host, "BZPOPMIN", key, "1").splitlines() == [key, "hello", "1"]


@pytest.mark.parametrize(
    ("case", "command", "login", "refusal"),
    [
        ("no password (the default user is off)", ["PING"], {"user": None}, "NOAUTH"),
        ("a wrong password", ["PING"], {"password": "not-the-password"}, "WRONGPASS"),
        ("the default user with the app's password", ["PING"], {"user": "default"}, "WRONGPASS"),
        ("an administrative command", ["CONFIG", "GET", "requirepass"], {}, "NOPERM"),
        ("a dangerous command", ["FLUSHALL"], {}, "NOPERM"),
    ],
)
def test_redis_refuses(host, case, command, login, refusal):
    said = redis(host, *command, **login)
    assert refusal in said, f"{case}: {said}"


def test_redis_listens_on_the_given_addresses_only_and_runs_as_redis(host):
    listening = host.check_output("ss -ltnH 'sport = :6379'").split("\n")
    assert sorted(line.split()[3] for line in listening if line.strip()) == ["127.0.0.1:6379"]
    main = host.check_output("systemctl show -p MainPID --value redis-server.service")
    assert host.process.get(pid=int(main)).user == "redis"
    assert host.service("redis-server").is_enabled
