"""A Channels group reaches every member across the server's processes, through Redis.

Runs where Redis is on the host too (the inventory group asgi_redis: on
Debian 12, the host that switches through every kind, so every kind is
tried). The demo's chat room (ws/room/<name>/) sends each client, when it
joins, the id of the server process that holds its connection, and sends a
message to everyone in the room.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from urllib.parse import urlsplit

import pytest
from conftest import CA_FILE, ENV_FILE, KIND, ORIGIN, SERVICES, redis_cli, room_broadcast

pytestmark = [
    pytest.mark.nginx_proxy,
    pytest.mark.skipif(
        "asgi_redis" not in os.environ.get("ASGI_STACK_HOST_GROUPS", ""),
        reason="Redis runs on this host only where it is in the group asgi_redis",
    ),
]

CLIENTS = 10
# The clients spread over two processes at least: a message reaches the
# clients of the other process through Redis only.
PROCESSES = 2
# Seconds within which the server restarts once the room's clients have left:
# less than the role's default graceful timeout (asgi_server_graceful_timeout),
# which a consumer left waiting would make the stop wait out.
RESTART_WITHIN_S = 20


def app_redis_url(host) -> str:
    for line in host.file(ENV_FILE).content_string.splitlines():
        if line.startswith("DJANGO_REDIS_URL="):
            return shlex.split(line.partition("=")[2])[0]
    raise AssertionError(f"no DJANGO_REDIS_URL in {ENV_FILE}")


# Seconds the room stays quiet before the message: longer than redis-py 8's
# default read timeout (5 s), which cut a quiet WebSocket's consumer while
# channels-redis waited for a message (the demo's settings.py).
QUIET_S = 6


def assert_every_client_heard(outcome: dict) -> None:
    print(f"\n[{KIND}] room broadcast: {outcome}")
    assert outcome["processes"] >= PROCESSES, f"one process held every client: nothing to prove ({outcome})"
    assert outcome["clients"] >= CLIENTS, outcome
    assert outcome["heard"] == outcome["clients"], f"the message reached only {outcome['heard']} clients: {outcome}"


@pytest.mark.switch
def test_a_group_message_reaches_every_client_across_processes(host):
    """Every client of the room hears a message one of them sends, those of the other processes through Redis:
    after each switch too (marked switch), the room's quiet and the restart after it being the next test's,
    which runs at each kind's first visit."""
    assert_every_client_heard(room_broadcast(host, "wss://localhost/", CA_FILE, CLIENTS, PROCESSES))


def test_a_room_quiet_for_a_while_still_hears_and_its_clients_hold_up_no_restart(host):
    """A room that stayed quiet longer than Redis's read timeout still hears its message; once its clients have
    left, their consumers end, and nothing they leave behind holds up the server's next stop. Per kind, at its
    first visit: the 19 switches' visits of Debian 12's switching run leave out its quiet and restart (the
    broadcast with them took 10 to 20 s a visit in a suite run, alone about 1 s on a kept host).

    With the layer's read timeout at 10 s, the receive of a consumer whose client had left went on waiting for
    messages (Debian 12's Python 3.11), and hypercorn's stop waited out its graceful timeout for it: restarts
    after a room of 10 clients took 31 to 32 s on the demo host, 1.4 to 1.8 s with no read timeout (the demo's
    settings.py). A run of this test with the 10 s timeout did not meet it (the restart took about 2 s): the
    check stands for what a user relies on, not as proof of that fix.
    """
    assert_every_client_heard(room_broadcast(host, "wss://localhost/", CA_FILE, CLIENTS, PROCESSES, quiet_s=QUIET_S))
    began = time.monotonic()
    for service in SERVICES:
        assert host.run(f"systemctl restart {service}").rc == 0
    took = time.monotonic() - began
    assert took < RESTART_WITHIN_S, f"the restart after the room's clients left took {took:.1f} s"


def test_djangos_cache_is_one_for_every_server_process(host):
    """The demo's count in Django's cache (/counter/) goes up by one per request whichever process answers:
    the cache is in Redis, not one per process."""
    fetch = (
        "rm -rf /tmp/counter && mkdir /tmp/counter && for i in $(seq 20); do"
        f" curl -sS --cacert {CA_FILE} -o /tmp/counter/$i {ORIGIN}/counter/ & done; wait;"
        " for answer in /tmp/counter/*; do cat $answer; echo; done"
    )
    answers: list[dict] = []
    # Twenty at once, until they reached as many processes as the room test's clients do.
    for _round in range(5):
        answers += [json.loads(line) for line in host.check_output(fetch).splitlines()]
        if len({answer["pid"] for answer in answers}) >= PROCESSES:
            break
    counts = sorted(answer["count"] for answer in answers)
    print(f"\n{len(answers)} counts from {len({answer['pid'] for answer in answers})} processes")
    assert len({answer["pid"] for answer in answers}) >= PROCESSES, answers
    assert counts == list(range(counts[0], counts[0] + len(answers))), counts


def test_redis_answers_the_app_user_only(host):
    url = urlsplit(app_redis_url(host))
    assert (url.scheme, url.hostname, url.port) == ("redis", "127.0.0.1", 6379)
    app = ("--user", url.username, "--pass", url.password, "--no-auth-warning")
    assert "NOAUTH" in redis_cli(host, "ping")
    assert "WRONGPASS" in redis_cli(host, "--user", url.username, "--pass", "not-the-password", "ping")
    assert "WRONGPASS" in redis_cli(host, "--user", "default", "--pass", url.password, "ping")
    assert redis_cli(host, *app, "ping").strip() == "PONG"
    # The app's user cannot reconfigure Redis or read every key name.
    assert "NOPERM" in redis_cli(host, *app, "config", "get", "*")
    assert "NOPERM" in redis_cli(host, *app, "keys", "*")


def test_redis_listens_on_the_loopback_only(host):
    listening = host.check_output("ss -ltnH 'sport = :6379'").split("\n")
    addresses = sorted(line.split()[3] for line in listening if line.strip())
    assert addresses == ["127.0.0.1:6379"], addresses
