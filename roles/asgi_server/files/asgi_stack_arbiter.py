# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn's arbiter and workers as both gunicorn kinds run them: no stop lost at boot, started once each serves.

Two things the worker classes of files/asgi_stack_uvicorn_worker.py (uvicorn's
worker) and files/asgi_stack_gunicorn.py (gunicorn's own ASGI worker) share, through
the mixin ``Worker``:

- a SIGTERM that comes while a worker boots (a restart right after a start)
  is lost: before the worker sets its own handlers, the arbiter's, inherited
  through the fork, queue it where only the arbiter's copy in the worker sees
  it. The worker then serves on until the arbiter's graceful timeout has
  passed (30 s in a suite run on a busy machine). Here SIGTERM, SIGINT and
  SIGQUIT are held from the worker's first step (``hold_stops``) until the
  worker class releases them (``release_stops``, once its own handlers are
  set), and any that the inherited handler queued is sent again;
- gunicorn's arbiter tells systemd (the unit's Type=notify) READY=1 as soon
  as it listens, before its workers have loaded the app: a restart returned
  then, and restarts in a row stopped workers that had served nothing while
  requests waited in the socket's backlog through all of them. Here the
  arbiter's READY=1 waits until each worker of its first round serves: a
  worker, at its first heartbeat (which both worker classes send once they
  serve), writes its process id into a pipe the arbiter made before the fork
  and wakes the arbiter with SIGCHLD (which only makes it look for workers
  that ended); the arbiter, each time it has managed its workers, reads the
  pipe and says READY=1 once each of them has written. Later workers (a
  reload, a worker recycled after its maximum of requests) write nothing.

Imported by the worker class's module in the arbiter, where gunicorn loads
the worker class, before any worker is forked.
"""

from __future__ import annotations

import os
import queue
import signal

from gunicorn import arbiter, systemd

# The signals that stop a gunicorn worker, held until it has set its handlers.
HELD = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}


class Serving:
    """The arbiter's readiness: READY=1 once every worker of the first round serves."""

    def __init__(self, notify_systemd) -> None:
        self.notify_systemd = notify_systemd
        self.arbiter = os.getpid()
        self.read, self.write = os.pipe()
        os.set_blocking(self.read, False)
        self.seen: set[int] = set()
        self.told = False

    def sd_notify(self, state: str, logger, unset_environment: bool = False) -> None:
        """gunicorn's, without the arbiter's READY=1 until its workers serve."""
        if os.getpid() == self.arbiter and not self.told:
            state = "\n".join(line for line in state.split("\n") if line != "READY=1")
        self.notify_systemd(state, logger, unset_environment)

    def after(self, manage_workers):
        """The arbiter's manage_workers, then READY=1 if each of its workers has said that it serves."""

        def manage_workers_then_tell(master) -> None:
            manage_workers(master)
            if self.told:
                return
            while True:
                try:
                    written = os.read(self.read, 4096)
                except BlockingIOError:
                    break
                self.seen.update(int(pid) for pid in written.split())
            if len(master.WORKERS) >= master.num_workers and self.seen.issuperset(master.WORKERS):
                self.told = True
                self.notify_systemd("READY=1\nSTATUS=Every worker serves", master.log)

        return manage_workers_then_tell

    def serves(self, worker) -> None:
        """In a worker of the first round, at its first heartbeat: tells the arbiter."""
        if self.told or getattr(worker, "asgi_stack_serves", False):
            return
        worker.asgi_stack_serves = True
        os.write(self.write, f"{os.getpid()}\n".encode())
        os.kill(worker.ppid, signal.SIGCHLD)


SERVING = Serving(systemd.sd_notify)
systemd.sd_notify = SERVING.sd_notify
arbiter.Arbiter.manage_workers = SERVING.after(arbiter.Arbiter.manage_workers)


class Worker:
    """Mixin for a gunicorn worker class: stops held while it boots, and its first heartbeat tells the arbiter."""

    def hold_stops(self) -> None:
        """From the worker's first step: holds the stop signals, with any the inherited handler queued."""
        signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
        # The arbiter's handler (a bound method of the arbiter's copy in this
        # process) queues what came since the fork: sent again, it waits here.
        inherited = getattr(getattr(signal.getsignal(signal.SIGTERM), "__self__", None), "SIG_QUEUE", None)
        while inherited is not None:
            try:
                caught = inherited.get_nowait()
            except queue.Empty:
                break
            if caught in HELD:
                os.kill(os.getpid(), caught)

    def release_stops(self) -> None:
        """Once the worker's own handlers are set: what was held is delivered to them."""
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)

    def init_process(self) -> None:
        self.hold_stops()
        super().init_process()

    def notify(self) -> None:
        super().notify()
        SERVING.serves(self)
