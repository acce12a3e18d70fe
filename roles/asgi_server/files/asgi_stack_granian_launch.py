# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""granian's command line, whose workers stop at once when told to while they load the application.

granian's workers are forks of its main process (multiprocessing's fork
start method) and keep its handler of SIGTERM and SIGINT until they have
loaded the application and set their own. A worker that granian tells to
stop meanwhile (a restart that comes while the server starts) records the
signal in its copy of the main process's state, where nothing reads it, and
serves on until granian kills it after --workers-kill-timeout: such a
restart took 31 to 37 s. Here a forked worker starts with the default
action of those signals: told to stop before it serves, it ends at once,
having served nothing. The signals are blocked in the main process from
just before a fork until the child has reset them, so that one that comes
in between waits for the default action instead of meeting the inherited
handler. Workers started otherwise (the spawn start method, which Python
3.14 makes granian use) start with the default action anyway.

Used by asgi.stack.asgi_server as ``python -m asgi_stack_granian_launch`` with
granian's arguments.
"""

import os
import signal

from granian.cli import entrypoint

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def block_stop_signals() -> None:
    """Before a fork: the stop signals wait."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def unblock_stop_signals() -> None:
    """After a fork, in the main process: the stop signals that waited go to its handler."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def default_stop_signals() -> None:
    """After a fork, in the worker: the stop signals end it, until granian sets its own handler."""
    try:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
    finally:
        unblock_stop_signals()


def main() -> None:
    """granian's command line, with the fork hooks above."""
    os.register_at_fork(
        before=block_stop_signals,
        after_in_parent=unblock_stop_signals,
        after_in_child=default_stop_signals,
    )
    entrypoint()


if __name__ == "__main__":
    main()
