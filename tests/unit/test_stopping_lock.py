"""asgi_server's files/asgi_stack_drain.py: a stopping worker's WebSockets wait for every worker's requests."""

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

FILE = Path(__file__).resolve().parents[2] / "roles" / "asgi_server" / "files" / "asgi_stack_drain.py"
_spec = importlib.util.spec_from_file_location("asgi_stack_drain", FILE)
drain = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(drain)

# Holds the lock shared, as a worker with a request running does, until told to stop (a line on stdin).
HOLDER = """
import fcntl, os, sys
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(descriptor, fcntl.LOCK_SH)
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def lock(tmp_path) -> str:
    return str(tmp_path / "stopping.lock")


@pytest.fixture
def other_worker(lock):
    """Another process of the server with a request running: it holds the lock until released (call it)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, lock], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"

    def release() -> None:
        process.stdin.write("\n")
        process.stdin.flush()
        process.wait(5)

    yield release
    process.kill()
    process.wait()


def waited(running, within: float, lock: str) -> float:
    """Seconds requests_done took."""

    async def timed() -> float:
        began = time.monotonic()
        await drain.requests_done(running, within, lock)
        return time.monotonic() - began

    return asyncio.run(timed())


def test_nobody_holds_a_new_lock_and_the_look_takes_none(lock):
    assert drain.nobody_holds(lock)
    assert drain.nobody_holds(lock), "the look itself left the lock held"


def test_a_shared_holder_is_seen_until_it_lets_go(lock, other_worker):
    assert not drain.nobody_holds(lock)
    other_worker()
    assert drain.nobody_holds(lock)


def test_a_worker_with_nothing_running_waits_only_for_the_others_to_be_told(lock):
    assert drain.SETTLE <= waited(lambda: False, 10, lock) < drain.SETTLE + 1


def test_a_worker_waits_for_its_own_requests_and_holds_the_lock_meanwhile(lock):
    until = time.monotonic() + 1.0
    seen_held = []

    def running() -> bool:
        return time.monotonic() < until

    async def watch() -> None:
        await asyncio.sleep(0.5)
        seen_held.append(not drain.nobody_holds(lock))

    async def both() -> float:
        began = time.monotonic()
        await asyncio.gather(drain.requests_done(running, 10, lock), watch())
        return time.monotonic() - began

    took = asyncio.run(both())
    assert 1.0 <= took < 2.0
    assert seen_held == [True], "another worker would not have waited for this one's requests"
    assert drain.nobody_holds(lock), "the lock stayed held after its requests ended"


def test_a_worker_waits_for_another_workers_requests(lock, other_worker):
    async def release_later() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(other_worker)

    async def both() -> float:
        began = time.monotonic()
        await asyncio.gather(drain.requests_done(lambda: False, 10, lock), release_later())
        return time.monotonic() - began

    assert 1.0 <= asyncio.run(both()) < 2.0


def test_a_worker_waits_no_longer_than_it_is_given(lock, other_worker):
    assert 0.5 <= waited(lambda: True, 0.5, lock) < 1.5
    assert 0.5 <= waited(lambda: False, 0.5, lock) < 1.5
    assert drain.nobody_holds(lock) is False, "the other worker's lock is its own"


def test_a_recycled_worker_closes_its_websockets_once_its_own_requests_end_and_holds_the_lock_until_then(lock):
    """A worker recycled after its maximum of requests closes its WebSockets when its own requests have ended, not
    at once: a stop that follows meanwhile waits for those requests (the lock), and the WebSockets close with the
    others'."""
    until = time.monotonic() + 1.0
    seen_held = []

    async def watch() -> None:
        await asyncio.sleep(0.5)
        seen_held.append(not drain.nobody_holds(lock))

    async def recycled() -> float:
        began = time.monotonic()
        await asyncio.gather(
            drain.requests_done(lambda: time.monotonic() < until, drain.close_within(30), lock, recycled=True),
            watch(),
        )
        return time.monotonic() - began

    assert 0.9 <= asyncio.run(recycled()) < 1.5, "closed before its own requests ended, or long after"
    assert seen_held == [True], "its requests ran without the lock"
    assert drain.nobody_holds(lock), "the lock stayed held after its requests ended"


def test_a_recycled_worker_waits_for_no_other_worker(lock, other_worker):
    """Workers started together reach their maximum of requests together: waiting on each other, none accepted for
    seconds (see the module's docstring)."""
    began = time.monotonic()
    asyncio.run(drain.requests_done(lambda: False, drain.close_within(30), lock, recycled=True))
    assert time.monotonic() - began < 0.2
    assert drain.nobody_holds(lock) is False, "the other worker's lock is its own"


def test_a_worker_out_of_time_holds_the_lock_until_its_requests_end(lock):
    until = time.monotonic() + 1.0

    async def watch() -> list[bool]:
        await drain.requests_done(lambda: time.monotonic() < until, 0.4, lock)
        seen = [not drain.nobody_holds(lock)]
        await asyncio.sleep(1.0)
        return [*seen, not drain.nobody_holds(lock)]

    assert asyncio.run(watch()) == [True, False]


def test_a_cancelled_wait_lets_go_of_the_lock(lock):
    async def cancelled() -> None:
        waiting = asyncio.ensure_future(drain.requests_done(lambda: True, 10, lock))
        await asyncio.sleep(0.3)
        assert not drain.nobody_holds(lock)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)

    asyncio.run(cancelled())
    assert drain.nobody_holds(lock), "the lock stayed held after the wait was cancelled"


def test_no_lock_to_be_had_closes_at_once(tmp_path):
    assert waited(lambda: True, 10, str(tmp_path / "no-such-directory" / "stopping.lock")) < 0.5


def test_the_wait_ends_before_the_graceful_timeout():
    assert drain.close_within(30) == 30 - drain.MARGIN
    assert drain.close_within(1) == 0.0
    assert drain.close_within(None) == 0.0


def test_the_lock_file_is_the_units_own_and_its_users_alone(lock):
    # In /tmp, which the unit's PrivateTmp=yes makes its own: no other unit's workers share the lock.
    hardening = (FILE.parents[1] / "templates" / "hardening.j2").read_text().splitlines()
    assert drain.LOCK_FILE.startswith("/tmp/") and "PrivateTmp=yes" in hardening
    drain.nobody_holds(lock)
    assert os.stat(lock).st_mode & 0o777 == 0o600


# Claims the lock for its life, as hypercorn's worker does for QUIC, says whether it got it, then waits.
CLAIMER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("asgi_stack_drain", sys.argv[1])
drain = importlib.util.module_from_spec(spec)
spec.loader.exec_module(drain)
print("claimed" if drain.claim(sys.argv[2]) else "taken", flush=True)
sys.stdin.readline()
"""


def claimer(lock: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", CLAIMER, str(FILE), lock], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    return process, process.stdout.readline().strip()


def test_one_process_at_a_time_claims_the_lock_for_its_life_and_the_next_claims_it_once_it_ended(lock):
    first, said = claimer(lock)
    try:
        assert said == "claimed"
        second, said = claimer(lock)
        second.kill()
        second.wait()
        assert said == "taken", "two processes claimed the lock at once"
        time.sleep(0.2)
        assert not drain.claim(lock), "the claim was dropped while its process lived"
    finally:
        first.kill()  # ended however it ends: the kernel lets go of the lock
        first.wait()
    assert drain.claim(lock), "the lock stayed claimed after its process ended"
    assert drain.claim(lock), "a process's own claim, asked again, was refused"
    assert not drain.nobody_holds(lock)


def test_the_quic_lock_is_the_units_own_and_apart_from_the_stopping_lock():
    helper = (FILE.parent / "asgi_stack_proxy_fix.py").read_text()
    quic_lock = re.search(r'^QUIC_LOCK_FILE = "([^"]+)"', helper, re.MULTILINE).group(1)
    assert quic_lock.startswith("/tmp/") and quic_lock != drain.LOCK_FILE
