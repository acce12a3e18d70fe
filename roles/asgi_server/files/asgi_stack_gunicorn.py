# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn's own ASGI worker, with the client's address from nginx's headers, that stops at once.

gunicorn's ASGI worker (``-k asgi``) takes the scheme from X-Forwarded-Proto
of a trusted peer (a unix socket's peer always is), but gives the
application the connection's own client, which on nginx's unix socket is
none. The application is wrapped in uvicorn's ProxyHeadersMiddleware, which
takes the client's address from X-Forwarded-For: the socket is reachable by
nginx alone, which sets that header itself.

An open WebSocket keeps gunicorn 27's worker from stopping when it is told
to, until its graceful timeout has passed and the arbiter kills it, since
the stop waits for every connection. Here each gets a close frame 1001
(going away) once no worker of the server has a request running
(files/asgi_stack_drain.py), as does one opened meanwhile; its client
connects again, to the next server.

A SIGTERM that comes while the worker boots is kept, and gunicorn counts
started only once each worker serves: both come from
files/asgi_stack_arbiter.py, which uvicorn's worker for gunicorn
(files/asgi_stack_uvicorn_worker.py) shares, installed beside this file.

Used by asgi.stack.asgi_server as gunicorn's worker class
(``asgi_stack_gunicorn.ASGIWorker``).
"""

from __future__ import annotations

import asyncio
import weakref

from asgi_stack_arbiter import Worker
from asgi_stack_drain import close_reason, close_within, requests_done
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.asgi.websocket import CLOSE_GOING_AWAY
from gunicorn.workers import gasgi
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

# How often a stopping worker looks for WebSockets to close.
POLL = 0.1


class Protocol(ASGIProtocol):
    """gunicorn's connection, known to its worker, which closes its WebSocket when it stops."""

    def connection_made(self, transport):
        self.worker.connections.add(self)
        super().connection_made(transport)


class ASGIWorker(Worker, gasgi.ASGIWorker):
    """gunicorn's ASGI worker with the application behind nginx's proxy headers, and a stop that holds nothing up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections: weakref.WeakSet = weakref.WeakSet()
        self.closing: asyncio.Task | None = None

    def load_wsgi(self):
        super().load_wsgi()
        self.asgi = ProxyHeadersMiddleware(self.asgi, trusted_hosts="*")

    def run(self):
        # gunicorn's worker makes its connections with the module's ASGIProtocol.
        gasgi.ASGIProtocol = Protocol
        # uvloop drops a signal that arrives before its loop runs: the held ones are delivered then.
        self.loop.call_soon(self.release_stops)
        super().run()

    def handle_exit_signal(self):
        super().handle_exit_signal()
        # The stop's wait begins with the signal, not when gunicorn's loop next looks (once a second): told to
        # stop together, a worker whose look came later had not yet said that its requests run, and the others
        # closed their WebSockets under them (files/asgi_stack_drain.py).
        self._begin_closing()

    def _begin_closing(self):
        if self.closing is None:
            self.closing = self.loop.create_task(self._close_websockets())

    async def _shutdown(self):
        self._begin_closing()  # a stop without the signal: recycled after its maximum of requests
        try:
            await super()._shutdown()
        finally:
            self.closing.cancel()

    def _requests_running(self) -> bool:
        """Whether a connection has an HTTP request under way (one that waits for its next request has none)."""
        return any(
            connection._websocket is None and not connection._awaiting_request and not connection._closed
            for connection in list(self.connections)
        )

    async def _close_websockets(self):
        # Open, and served, until no worker has a request running (files/asgi_stack_drain.py).
        recycled = self.nr >= self.max_requests
        await requests_done(self._requests_running, close_within(self.cfg.graceful_timeout), recycled=recycled)
        reason = close_reason(recycled, "server stopping")
        while True:
            for connection in list(self.connections):
                websocket = connection._websocket
                if websocket is None or not websocket.accepted or websocket._close_sent:
                    continue
                try:
                    await websocket._send_close(CLOSE_GOING_AWAY, reason)
                except Exception:  # one connection's failure stops no other's close
                    self.log.exception("Could not close a WebSocket while stopping")
            await asyncio.sleep(POLL)
