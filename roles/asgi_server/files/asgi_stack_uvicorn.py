# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""uvicorn whose graceful stop answers the requests already on their way.

When uvicorn stops (a restart, a deploy, a worker recycled after its
maximum of requests), it closes at once every connection that has no
request running. A connection that nginx has just opened, or a kept-alive
one on which nginx has just sent the next request, may hold a request that
uvicorn has not read yet: closing it with unread data resets it, and nginx
answers 502 to a POST, which it may not send again (for a GET, it tries
the next entry of its upstream list, which may meet the same fate).

Here, such a connection is instead read on for one more second: a request
that arrives is answered, with ``Connection: close``, and a connection that
stays silent is closed then. uvicorn's stop already waits for every
connection to close, within its graceful timeout. A WebSocket handshake
that arrives meanwhile is not taken up (the stop would never close that
WebSocket, and it would hold the stop for the whole graceful timeout): it
is answered as a plain request, and the client connects again.

An open WebSocket gets uvicorn's close frame (1012) when the server stops,
once no worker of the server has a request running
(files/asgi_stack_drain.py), and the stop then waits for the client's own close frame (uvicorn's close
timeout at most), as after the app's own close; what the client sends
meanwhile is dropped, and so is what the app answers. A handshake that the
app has not answered yet when the stop begins (a consumer that looks up
who connects before it accepts) is left to the app: uvicorn answered it
500, which a browser shows as a failed connection; accepted, it is closed
as an open one is. uvicorn closed the
connection as soon as its frame had gone: a client that kept sending had
messages unread then, the kernel reset the connection, and the close frame
was lost with it (by hand on the demo host, 20 clients sending every half
millisecond through a restart: 2 of 5 runs lost some for uvicorn, 4 of 5 for
gunicorn's uvicorn worker; none in 5 and 6 runs since). For uvicorn 0.50 and
later, whose WebSockets go through websockets' sans-I/O protocol.

gunicorn's uvicorn worker (files/asgi_stack_uvicorn_worker.py) imports this
module for the same stop.

As uvicorn's command, it tells systemd (the unit's Type=notify) that the
server is started only once every worker has loaded the app and serves.
Without it (Type=exec) a restart returned while the workers still booted,
so restarts in a row stopped workers that had served nothing: a request
that waited in the socket's backlog meanwhile waited through all of them
(14.9 s through five restarts 1 s apart in a suite run, where gunicorn's
kinds waited 2.5 to 3.5 s). A deploy's health check and the next restart
now meet a server that answers.

Its process manager also learns at once that a worker has ended. uvicorn's
health check sends a worker a ping and waits for the answer, up to
``--timeout-worker-healthcheck``; but the manager holds both ends of the
pipe, so a worker that ends between the ping and its answer (one that
leaves after its maximum of requests, or is killed) closes nothing, and the
manager waited out the whole timeout before it saw the worker gone and
started another. Meanwhile it replaced no other worker either: under a
busy site's load the five workers, started together, reached their maximum
together, and for 20 s none served while requests waited (p99 21.9 s in a
deploy that did not touch the server). Here the health check also ends when
the worker's process does, and first reads any answer that came too late
for the check before, so that each check reads its own.

Used by asgi.stack.asgi_server as uvicorn's command (``python -m
asgi_stack_uvicorn``, which takes uvicorn's arguments), and imported by
gunicorn's uvicorn worker. It imports nothing of gunicorn.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from multiprocessing.connection import wait

from asgi_stack_drain import close_reason, close_within, requests_done
from uvicorn.protocols.http import h11_impl, httptools_impl
from uvicorn.server import Server as _Server
from uvicorn.supervisors import multiprocess

# Seconds a connection with no request running is read on after the stop began.
GRACE = 1.0


def _drain(protocol_class: type) -> None:
    """Replaces the protocol's shutdown with one that reads on, and answers with Connection: close."""
    headers_complete = getattr(protocol_class, "on_headers_complete", None)
    handle_events = getattr(protocol_class, "handle_events", None)
    should_upgrade = protocol_class._should_upgrade

    def _should_upgrade(self) -> bool:
        return not getattr(self, "asgi_stack_stopping", False) and should_upgrade(self)

    def shutdown(self) -> None:
        self.asgi_stack_stopping = True
        if self.cycle is None or self.cycle.response_complete:
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(GRACE, self.timeout_keep_alive_handler)
        else:
            self.cycle.keep_alive = False

    def no_keep_alive(self) -> None:
        if getattr(self, "asgi_stack_stopping", False) and self.cycle is not None:
            self.cycle.keep_alive = False

    if headers_complete is not None:  # httptools

        def on_headers_complete(self) -> None:
            headers_complete(self)
            no_keep_alive(self)

        protocol_class.on_headers_complete = on_headers_complete
    if handle_events is not None:  # h11

        def handle_events_then(self) -> None:
            before = self.cycle
            handle_events(self)
            if self.cycle is not before:
                no_keep_alive(self)

        protocol_class.handle_events = handle_events_then
    protocol_class._should_upgrade = _should_upgrade
    protocol_class.shutdown = shutdown


_drain(httptools_impl.HttpToolsProtocol)
_drain(h11_impl.H11Protocol)


# The code of the close frame a stopping server sends (uvicorn's: service restart).
STOP_CODE = 1012
# Done once no worker of the server has an HTTP request running, after this worker's stop began
# (files/asgi_stack_drain.py): its WebSockets close then.
_requests_done: asyncio.Future | None = None
# The reason its close frames give: none for a stop, as uvicorn's own; another for a recycled worker.
_close_reason = ""


def _requests_running(connections) -> bool:
    """Whether one of the worker's connections has an HTTP request whose answer is not complete."""
    return any(
        getattr(connection, "cycle", None) is not None and not connection.cycle.response_complete
        for connection in list(connections)
    )


_server_shutdown = _Server.shutdown


async def _shutdown(self, sockets=None) -> None:
    global _requests_done, _close_reason  # one server per worker process
    connections = self.server_state.connections
    limit = self.config.limit_max_requests
    recycled = limit is not None and self.server_state.total_requests >= limit
    _close_reason = close_reason(recycled, "")
    within = close_within(self.config.timeout_graceful_shutdown)
    _requests_done = asyncio.ensure_future(
        requests_done(lambda: _requests_running(connections), within, recycled=recycled)
    )
    await _server_shutdown(self, sockets=sockets)


_Server.shutdown = _shutdown


def _close_handshake(protocol_class: type) -> None:
    """Replaces the WebSocket's shutdown with one that sends the close frame and waits for the client's."""
    shutdown = protocol_class.shutdown
    send = protocol_class.send

    def shutdown_then_wait(self) -> None:
        if self.handshake_initiated and not self.handshake_complete and not self.close_sent:
            # The app has the handshake and has not answered yet: uvicorn would answer 500. The app answers it,
            # and if it accepts, the WebSocket is closed as an open one is (send_unless_stopped).
            self.asgi_stack_close_once_open = True
            return
        if self.close_sent or not self.handshake_complete or self.initial_response is not None:
            shutdown(self)  # not open, or closing already: uvicorn's own
            return
        if _requests_done is not None and not _requests_done.done():
            # Open, and served, until no worker has a request running (files/asgi_stack_drain.py).
            _requests_done.add_done_callback(lambda _done: self.transport.is_closing() or self.shutdown())
            return
        self.stop_keepalive()
        self.asgi_stack_stopping = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": STOP_CODE})
        self.conn.send_close(STOP_CODE, _close_reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        # As after the app's own close: messages that come meanwhile are dropped,
        # the client's close frame closes the connection (handle_close), or the
        # close timeout does.
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    async def send_unless_stopped(self, message) -> None:
        if getattr(self, "asgi_stack_stopping", False) and not self.disconnected:
            return  # the app's answer to a message before the stop: the close frame has gone
        await send(self, message)
        if message["type"] == "websocket.accept" and getattr(self, "asgi_stack_close_once_open", False):
            self.asgi_stack_close_once_open = False
            self.shutdown()

    protocol_class.shutdown = shutdown_then_wait
    protocol_class.send = send_unless_stopped


try:  # uvicorn 0.35 and later; --ws auto's choice from uvicorn 0.50
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover
    pass
else:
    _close_handshake(WebSocketsSansIOProtocol)


# uvicorn's kind: defined here, not under __main__, so that its workers (spawned: they import this module)
# find it.
class WatchedProcess(multiprocess.Process):
    """A worker whose health check ends when it answers or when its process ends, whichever comes first."""

    def _healthcheck(self, timeout: float) -> bool | None:
        try:
            while self.parent_conn.poll(0):  # an answer to an earlier check that gave up waiting
                self.parent_conn.recv()
            self.parent_conn.send(b"ping")
            if self.parent_conn in wait([self.parent_conn, self.process.sentinel], timeout):
                return self.parent_conn.recv()
            return None  # no answer in time, or the worker ended
        except (OSError, EOFError, pickle.UnpicklingError):
            return None


if __name__ == "__main__":
    # uvicorn's kind: asgi_stack_notify is installed beside this module for it (the kinds table's python_modules).
    import importlib

    from asgi_stack_notify import notify_ready
    from uvicorn.main import main
    from uvicorn.server import Server
    from uvicorn.supervisors import Multiprocess

    class ReadyServer(Server):
        """One process (--workers 1): ready once it serves."""

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                notify_ready()

    def serves(process) -> bool:
        # Before uvicorn 0.51 (a floor set lower by hand) no worker says so: ready at once, as with Type=exec.
        is_ready = getattr(process, "is_ready", None)
        return is_ready is None or is_ready(timeout=0.2)

    class ReadyMultiprocess(Multiprocess):
        """Workers: ready once each answers uvicorn's own health check saying that it serves (uvicorn 0.51+).

        Checked in the process manager's loop, between its handling of signals, so that a stop that comes
        while the workers boot is handled as before.
        """

        told = False

        def keep_subprocess_alive(self) -> None:
            super().keep_subprocess_alive()
            if self.told or self.should_exit.is_set():
                return
            if all(serves(process) for process in self.processes):
                self.told = True
                notify_ready()

    # The module: the package's attribute of that name is the command, main.
    command_module = importlib.import_module("uvicorn.main")
    command_module.Server = ReadyServer
    command_module.Multiprocess = ReadyMultiprocess
    multiprocess.Process = WatchedProcess  # the manager's module makes its workers by this name
    sys.argv[0] = "uvicorn"
    main()
