# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stopping server's WebSockets close once none of its workers has an HTTP request running.

A server of one instance (its socket held by systemd) stops, then starts
again: connections that arrive meanwhile wait in the socket's backlog until
the next server serves. Its workers closed their WebSockets as soon as the
stop began, and the clients' next connections waited for the longest
request still running in any worker (a streamed answer: seconds), then for
the next server's start; under a busy site's load, 30 of 40 WebSockets
through five restarts took more than 2 s to connect again (gunicorn_uvicorn,
Debian 13). Here each worker keeps its WebSockets open, serving them, until
no worker of the server has a request running, and then closes them: the
stop waited for those requests anyway, and the clients' next connections
now wait for the next server's start only.

The workers know nothing of each other. A worker whose requests run after
its stop began holds a shared lock on a file of the server's own /tmp (the
unit's PrivateTmp=yes: its processes share it, no other unit sees it) until
they have ended; a worker may close its WebSockets once no worker holds it,
which an exclusive lock taken without waiting tells. A worker that dies
drops its lock with it. The workers are told to stop within moments of each
other: none looks before SETTLE seconds have passed, so that every one with
a request running holds the lock by then. Each waits at most until
``within`` seconds (the graceful timeout, less a margin) have passed, so
that its WebSockets get their close frame before the server is killed.

A worker recycled after its maximum of requests waits for its own requests
only, then closes its WebSockets: its successor starts only once it has
ended, and workers started together reach their maximum together. Waiting
on each other there too, all five of uvicorn's workers once stopped
together and none accepted for seconds (a kind switch under the busy load,
Debian 13: 64 requests answered 502 when the server was then stopped with
connections waiting in its socket's backlog, and a WebSocket waited 12.3 s
to connect again). It holds the lock while its requests run all the same:
when the server stops meanwhile, its requests are among those the stop
waits for. Not held, the others' WebSockets closed while its streams ran,
and their clients' next connections waited for those, then for the next
server's start (a rollback under the busy load, uvicorn, Debian 13: 3 of 42
reconnections over 2 s, none of 27 and 40 with it). Closed at once, as they
were before, the recycled worker's own WebSockets met the same fate when a
stop followed within its streams' time: their clients' next connections
found no worker accepting and waited for the whole stop, then for the next
server's start (five restarts under the busy load, uvicorn, Debian 13, its
maximum lowered to 150 requests so that a worker is recycled every second
or so: 16 of 107 and 19 of 104 reconnections over 2 s; closed after its own
requests, none of 47 and 55).

A recycled worker's close frames say so (RECYCLED_REASON), a stop's do
not: a client whose WebSocket a recycled worker closed just as a restart of
a server of one instance began connects again while no worker accepts, and
waits for the whole stop, then for the next server's start (on a kept
Debian 13 host with two busy loops beside the busy load, five restarts with
uvicorn's workers recycled every 1000 requests: reconnections up to 4.3 s
in 2 of 4 runs; none over 1.3 s in 3 runs with no recycling). The load
generator of the tests counts those reconnections apart.

The same file system serves a lock of another kind: one that a worker
claims for its whole life (``claim``), so that exactly one of the server's
workers does what only one may do (hypercorn's QUIC, whose datagrams one
worker must read: files/asgi_stack_proxy_fix.py). The kernel drops it when
the worker ends, however it ends; the worker started next claims it.

Used by the stops of files/asgi_stack_uvicorn.py (uvicorn and
gunicorn_uvicorn), files/asgi_stack_gunicorn.py (gunicorn_asgi) and
files/asgi_stack_proxy_fix.py (hypercorn), installed beside them (the kinds
table's python_modules).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable

# The lock's file, in the unit's own /tmp (PrivateTmp=yes).
LOCK_FILE = "/tmp/asgi-stack-stopping.lock"
# Seconds after its stop began before a worker looks at the lock, and between looks.
SETTLE = 0.3
POLL = 0.1
# Seconds before the end of the graceful timeout at which WebSockets close whatever still runs.
MARGIN = 2.0
# The reason of the close frame that a worker recycled after its maximum of requests sends, so that a client (and
# tests/integration/loadgen.py) can tell it from a stop's: the kind's own reason for a stop, this for a recycling.
RECYCLED_REASON = "worker recycled"


def close_reason(recycled: bool, stopping: str) -> str:
    """The reason a worker's close frames give: RECYCLED_REASON for a worker ``recycled``, else ``stopping``."""
    return RECYCLED_REASON if recycled else stopping


# The descriptors of the locks this process claimed, open (and so held) until it ends.
_claimed: dict[str, int] = {}


def claim(path: str) -> bool:
    """Whether this process holds the lock ``path`` for the rest of its life: taken now (an exclusive lock
    taken without waiting), or already; False while another process holds it."""
    if path in _claimed:
        return True
    descriptor = _open(path)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False
    _claimed[path] = descriptor
    return True


def _open(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def nobody_holds(path: str = LOCK_FILE) -> bool:
    """Whether no process holds the lock (an exclusive lock taken without waiting tells)."""
    descriptor = _open(path)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)  # drops the lock, if taken
    return True


def close_within(graceful_timeout: float | None) -> float:
    """Seconds a stopping worker may keep its WebSockets open: the graceful timeout less MARGIN (0 for none)."""
    if not graceful_timeout:
        return 0.0
    return max(float(graceful_timeout) - MARGIN, 0.0)


class _Hold:
    """The shared lock, held while this worker has a request running."""

    def __init__(self, running: Callable[[], bool], path: str) -> None:
        self.running = running
        self.path = path
        self.descriptor: int | None = None

    def update(self) -> bool:
        """Takes the lock while this worker's requests run and drops it once they have ended; whether they run."""
        if self.running():
            if self.descriptor is None:
                self.descriptor = _open(self.path)
                fcntl.flock(self.descriptor, fcntl.LOCK_SH)
            return True
        self.release()
        return False

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


# The holds kept on after requests_done returned, until their requests end.
_holding: set[asyncio.Task] = set()


async def _hold_on(hold: _Hold) -> None:
    try:
        while hold.update():
            await asyncio.sleep(POLL)
    except OSError:
        pass
    finally:
        hold.release()


async def requests_done(
    running: Callable[[], bool], within: float, path: str = LOCK_FILE, *, recycled: bool = False
) -> None:
    """Returns once neither this worker (``running``: whether it has a request running) nor any other worker of
    the server has a request running, or ``within`` seconds on; holds the shared lock while this worker's run,
    to their end, after it returned too. A worker ``recycled`` after its maximum of requests waits for its own
    requests only (see the module's docstring).

    Call it once, when the worker's stop begins, then close the worker's WebSockets.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    hold = _Hold(running, path)
    handed_on = False
    try:
        while loop.time() - began < within:
            if not hold.update() and (recycled or (loop.time() - began >= SETTLE and nobody_holds(path))):
                return
            await asyncio.sleep(POLL)
        if hold.update():
            task = loop.create_task(_hold_on(hold))
            _holding.add(task)
            task.add_done_callback(_holding.discard)
            handed_on = True
    except OSError:
        return  # no lock to be had: the WebSockets close now, as the servers' own stops do
    finally:
        if not handed_on:
            hold.release()  # a wait cancelled with it too
