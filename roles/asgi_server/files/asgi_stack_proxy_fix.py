# Managed by asgi.stack.asgi_server.
"""The application named by ASGI_STACK_APPLICATION, behind hypercorn's ProxyFixMiddleware; a stop that drops nothing.

On hypercorn's own TLS port, the lowest protocol of the host's Mozilla profile (the end of this module).

hypercorn has no list of trusted proxies. Its unix socket is reachable by
nginx alone, which sets X-Forwarded-For and X-Forwarded-Proto itself, so one
trusted hop gives Django the client's address and scheme. Requests that reach
hypercorn's own TLS port come straight from clients: their headers are not
trusted, and hypercorn's own view of the connection stands.

HTTP/3 allows only lower-case header names, and hypercorn 0.18 passes
Django's (Content-Type) to aioquic as they are; clients then drop the
response after its status line. Responses on the TLS port get lower-case
names (HTTP header names are case-insensitive, so nothing else changes).

HTTP/3 is mended in files/asgi_stack_quic.py, which the QUIC server loads.
One worker serves it: hypercorn gives every worker the UDP socket, and
workers that each read from it took each a part of every QUIC connection's
datagrams, so that the role ran hypercorn serving HTTP/3 as one worker,
which served everything else on one CPU too. The first worker to claim a
lock of the unit's own /tmp (QUIC_LOCK_FILE, files/asgi_stack_drain.py)
reads the UDP socket until it ends; the others serve TCP and nginx's socket
only, and the worker started next after its end claims the lock in turn.
That worker is not recycled after a number of requests (asgi_server_max_requests):
no other worker reads the socket while it stops, and a new QUIC connection
that it took then was shut down with it (by hand, Debian 13, its maximum
set to 30: 2 of 100 HTTP/3 requests, each a connection of its own, failed
with "QUIC connection has been shut down").

A worker reads the certificate and key when it starts. One started while
the server serves (in place of a recycled one) that can no longer read them
serves nginx's socket only, and says why: the first kind switch away from
hypercorn under a busy load narrowed the key's group (certificates_key_group)
before the retired server stopped, the next worker's TLS failed, and
hypercorn's main process ended the server with it, under the requests it
served (68 of 19,027 answered 502, 4 streams cut short, twice in a row on
Debian 13). A worker of a server starting, before any worker read them,
still fails, as hypercorn's does: the start fails and the journal says why.

A worker told to stop (a reload, a certificate renewal, a restart) closes
its idle connections at once, resets an HTTP/2 request that arrives after
that, closes a kept-alive connection after its last answer without saying
so, keeps WebSockets open until the graceful timeout cuts them, and ends
with the connections it counted when it began to stop. A request already on
its way was then lost (nginx answers a POST sent on such a connection 502,
a client straight on the TLS port gets no answer), and a restart with a
WebSocket open took the whole graceful timeout while requests waited. While
a worker stops, an idle connection is given ON_ITS_WAY seconds for a request
to arrive, an HTTP/1.1 answer says "Connection: close", an HTTP/2 request
is served (and the client told to open no more streams), each WebSocket
gets a close frame (1001, going away) once no worker of the server has a
request running (files/asgi_stack_drain.py) so that its client connects
again to the next worker (one whose handshake ends after the stop began too), what
the app sends to it afterwards is dropped (hypercorn refused it, which ended
the app, and then nothing read the client's close frame), and
the worker waits for every connection it still has (one in its TLS handshake
too), within the graceful timeout; SIGTERM, which hypercorn's main process
sends to the workers still stopping once one has stopped, starts that same
stop instead of ending the worker at once. hypercorn reads this module in each worker
before it serves, which is when the classes below replace its own.
"""

import asyncio
import contextlib
import copy
import dataclasses
import os
import signal
import ssl
import sys
from http import HTTPStatus
from importlib import import_module

import h2.events
import h2.settings
import h11
import hypercorn.asyncio.run
import hypercorn.config
import hypercorn.protocol
from asgi_stack_drain import claim, close_reason, close_within, requests_done
from asgi_stack_notify import notify_ready
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.udp_server import UDPServer
from hypercorn.events import Closed, Updated
from hypercorn.middleware import ProxyFixMiddleware
from hypercorn.protocol.events import Response
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.http_stream import ASGIHTTPState, HTTPStream
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream

module_name, _dummy, attribute = os.environ["ASGI_STACK_APPLICATION"].partition(":")
target = import_module(module_name)
for name in (attribute or "application").split("."):
    target = getattr(target, name)

behind_nginx = ProxyFixMiddleware(target, mode="legacy", trusted_hops=1)


async def application(scope, receive, send):
    # hypercorn gives no server address for a unix socket: that is nginx's.
    if scope.get("server") is None:
        await behind_nginx(scope, receive, send)
        return
    # systemd's TLS sockets take IPv4 and IPv6 alike; an IPv4 client shows as
    # ::ffff:a.b.c.d, which Django would take for an IPv6 address.
    client = scope.get("client")
    if client and client[0].startswith("::ffff:") and "." in client[0]:
        scope = {**scope, "client": (client[0][len("::ffff:") :], client[1])}

    async def send_lower_case(message):
        if message["type"] == "http.response.start":
            headers = [(name.lower(), value) for name, value in message.get("headers", ())]
            message = {**message, "headers": headers}
        await send(message)

    await target(scope, receive, send_lower_case)


# The lock whose holder is the worker that serves QUIC, in the unit's own /tmp (PrivateTmp=yes).
QUIC_LOCK_FILE = "/tmp/asgi-stack-quic.lock"
# A file of the unit's own /tmp, there once a worker of this start of the server has read the certificate and key.
TLS_READ_FILE = "/tmp/asgi-stack-tls-read"
# Seconds a stopping worker waits on an idle connection for a request
# already on its way: a client or nginx sends it within milliseconds.
ON_ITS_WAY = 1.0
# Seconds between a stopping worker's rounds: the wake-ups of its QUIC
# server, and the look for WebSockets accepted since the stop began.
WAKE_EVERY = 0.2
# The connections this worker serves, those accepted after it began to stop
# included.
_connections: set[asyncio.Task] = set()
# The servers of the connections, asked whether HTTP requests run; and, once
# the worker stops, done when no worker has one running (files/asgi_stack_drain.py).
_tcp_servers: set[TCPServer] = set()
_requests_done: list[asyncio.Future] = []
# The reason the worker's close frames give: a stop's, or a recycled worker's (files/asgi_stack_drain.py).
_close_reasons: list[str] = []
# Each of this worker's servers, closed once every connection it accepted has
# ended, those still in their TLS handshake included.
_servers_closed: list[asyncio.Future] = []


class StoppingTCPServer(TCPServer):
    """A connection that, when its worker stops while it is idle, waits ON_ITS_WAY for a request."""

    async def run(self) -> None:
        task = asyncio.current_task()
        _connections.add(task)
        task.add_done_callback(_connections.discard)
        _tcp_servers.add(self)
        watcher = asyncio.ensure_future(self._close_websockets_on_stop())
        try:
            await super().run()
        finally:
            watcher.cancel()
            _tcp_servers.discard(self)

    def _streams(self) -> list:
        protocol = getattr(getattr(self, "protocol", None), "protocol", None)
        return [getattr(protocol, "stream", None), *getattr(protocol, "streams", {}).values()]

    async def _close_websockets_on_stop(self) -> None:
        """Once the worker stops and no worker has a request running, closes each open WebSocket, and each one
        accepted later, until the end."""
        await self.context.terminated.wait()
        # Open, and served, until no worker has a request running: one wait for all of the worker's connections.
        if not _requests_done:
            limit = self.context.max_requests
            recycled = limit is not None and self.context.requests > limit
            within = close_within(self.config.graceful_timeout)
            _requests_done.append(asyncio.ensure_future(requests_done(_requests_running, within, recycled=recycled)))
            _close_reasons.append(close_reason(recycled, "server restarting"))
        await asyncio.shield(_requests_done[0])
        closed: set[int] = set()
        while True:
            for stream in self._streams():
                if (
                    isinstance(stream, WSStream)
                    and stream.state == ASGIWebsocketState.CONNECTED
                    and id(stream) not in closed
                ):
                    closed.add(id(stream))
                    # From now on the app's messages are dropped (app_send, below), not this one.
                    stream.asgi_stack_closed_on_stop = True
                    await _app_send(stream, {"type": "websocket.close", "code": 1001, "reason": _close_reasons[0]})
            await asyncio.sleep(WAKE_EVERY)

    async def _idle_timeout(self) -> None:
        # Not asyncio.wait_for, as hypercorn has it: on Python 3.11 (Debian
        # 12's) it swallows a cancel that comes in the loop's round that ends
        # its wait. A request that arrived as its worker began to stop then
        # found this task going on instead of stopped: it closed the
        # connection under the request, one second later (nginx: "upstream
        # prematurely closed connection", a POST's body cut with a reset
        # and answered 502; a dozen per restart under a busy site's load).
        stopping = asyncio.ensure_future(self.context.terminated.wait())
        try:
            await asyncio.wait({stopping}, timeout=self.config.keep_alive_timeout)
        finally:
            stopping.cancel()
        if stopping.done() and not stopping.cancelled():
            # A request that arrives meanwhile stops this task (the
            # connection is no longer idle); it is answered, and then the
            # connection closes because the worker stops.
            await asyncio.sleep(ON_ITS_WAY)
        await asyncio.shield(self._initiate_server_close())


def _requests_running() -> bool:
    """Whether a connection of this worker has an HTTP request whose answer is not complete."""
    return any(
        isinstance(stream, HTTPStream) and stream.state != ASGIHTTPState.CLOSED
        for server in list(_tcp_servers)
        for stream in server._streams()
    )


class StoppingH11Protocol(H11Protocol):
    """HTTP/1.1 whose answers, once its worker stops, say that the connection closes after them.

    Each status line carries its reason phrase ("200 OK"): hypercorn sends none ("HTTP/1.1 200 "), which
    nginx passes on as it is. Valid HTTP, but a client that records the status only with its phrase takes
    each answer for a failure: Debian 12's h2load (nghttp2 1.52) counted every request to hypercorn failed,
    with a status of 0, where the other kinds' answers (with a phrase) were counted.
    """

    async def stream_send(self, event) -> None:
        if isinstance(event, Response) and event.status_code >= 200 and self.context.terminated.is_set():
            event = dataclasses.replace(event, headers=[*event.headers, (b"connection", b"close")])
        await super().stream_send(event)

    async def _send_h11_event(self, event) -> None:
        if isinstance(event, (h11.Response, h11.InformationalResponse)) and not event.reason:
            with contextlib.suppress(ValueError):
                event = type(event)(
                    # As the app named them: h11's own list has them in lower case.
                    headers=event.headers.raw_items(),
                    status_code=event.status_code,
                    http_version=event.http_version,
                    reason=HTTPStatus(event.status_code).phrase.encode(),
                )
        await super()._send_h11_event(event)


class StoppingH2Protocol(H2Protocol):
    """HTTP/2 that serves a request arriving while its worker stops, instead of resetting it."""

    async def _handle_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, h2.events.RequestReceived) and self.context.terminated.is_set():
                await self._create_stream(event)
                await self.send(Updated(idle=False))
                # The client opens no more streams here; once this one is
                # answered, hypercorn says GOAWAY and closes.
                self.connection.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 0})
                await self._flush()
            else:
                await super()._handle_events([event])


class StoppingUDPServer(UDPServer):
    """hypercorn's QUIC server, which notices that its worker stops without waiting for a datagram.

    hypercorn 0.18's loop checks whether its worker stops only after it has taken a datagram from its queue:
    with no HTTP/3 client sending one, the worker's stop lasted the whole graceful timeout. Once the worker
    stops, an event its protocol ignores (Closed) goes into that queue every WAKE_EVERY seconds, until the
    loop ends (it goes on while HTTP/3 connections are open, as hypercorn's does).
    """

    async def run(self) -> None:
        # HTTP/3 as hypercorn serves it, mended (files/asgi_stack_quic.py): loaded by the worker that serves
        # QUIC, before hypercorn's run() takes its protocol, and by no other (aioquic takes time to import).
        import asgi_stack_quic  # noqa: F401

        waker = asyncio.ensure_future(self._wake_on_stop())
        try:
            await super().run()
        finally:
            waker.cancel()

    async def _wake_on_stop(self) -> None:
        await self.context.terminated.wait()
        while True:
            with contextlib.suppress(asyncio.QueueFull):
                self.protocol_queue.put_nowait(Closed())
            await asyncio.sleep(WAKE_EVERY)


class _ServersTracked:
    """asyncio as hypercorn's worker sees it: each server it starts is followed until its last connection ends.

    hypercorn closes its servers and then waits for the connections that have reached the application.
    On its own TLS port a connection reaches it only once its TLS handshake is done: one taken from the
    socket's queue as the worker began to stop (or by a worker told to stop as soon as it started, a reload
    after a reload) was dropped with the worker, its client's handshake or request cut by a reset ("Send
    failure: Broken pipe"; by hand, Debian 13, uvloop: 5 of 2,113 requests through 40 reloads). The loop's
    server counts a connection from the moment it is accepted; its wait_closed(), when called before the
    server closes (uvloop's returns at once when called after), ends once the last one has ended.
    """

    def __getattr__(self, name):
        return getattr(asyncio, name)

    @staticmethod
    async def start_server(*args, **kwargs):
        server = await asyncio.start_server(*args, **kwargs)
        _servers_closed.append(asyncio.ensure_future(server.wait_closed()))
        return server


async def worker_serve(app, config, *, sockets=None, shutdown_trigger=None) -> None:
    """hypercorn's worker, which stops gracefully on SIGTERM too, then waits for the connections it did not count.

    hypercorn 0.18's main process stops its workers through a shared event, and once the first of them has
    stopped, sends SIGTERM to the others (run.py): a worker that still finished its requests died at once,
    with them (a streamed answer cut short, 4 of 4 on a restart). Here SIGTERM starts the same graceful stop
    as the event; the stop helper waits for every worker (asgi-stack-server-signal). Only the worker holding
    the QUIC lock gets the QUIC sockets.
    """
    told = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, told.set)
    # TLS where the certificate and key can be read; nginx's socket alone for a later worker that cannot read them
    # (see the module's docstring).
    if sockets is not None and config.ssl_enabled:
        try:
            config.create_ssl_context()
        except OSError as error:  # ssl.SSLError is one too
            if not os.path.exists(TLS_READ_FILE):
                raise
            print(
                f"asgi.stack: this worker serves nginx's socket only: it cannot read the certificate or key ({error})",
                file=sys.stderr,
                flush=True,
            )
            config = copy.copy(config)
            config.certfile = config.keyfile = None
            sockets = dataclasses.replace(sockets, secure_sockets=[], quic_sockets=[])
        else:
            with open(TLS_READ_FILE, "a"):
                pass
    # QUIC's datagrams for one worker only: the first to claim the lock (see the module's docstring), which is
    # not recycled after a number of requests.
    if sockets is not None and sockets.quic_sockets:
        if claim(QUIC_LOCK_FILE):
            config = copy.copy(config)
            config.max_requests = None
        else:
            sockets = dataclasses.replace(sockets, quic_sockets=[])

    async def stop() -> None:
        waits = [asyncio.ensure_future(told.wait())]
        if shutdown_trigger is not None:
            waits.append(asyncio.ensure_future(shutdown_trigger()))
        _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    await _worker_serve(app, config, sockets=sockets, shutdown_trigger=stop)
    stop_by = asyncio.get_running_loop().time() + config.graceful_timeout
    for waits in (_servers_closed, _connections):
        left = {task for task in waits if not task.done()}
        if left:
            await asyncio.wait(left, timeout=max(0.0, stop_by - asyncio.get_running_loop().time()))


_app_send = WSStream.app_send


async def app_send(self, message) -> None:
    """The app's messages to a WebSocket closed by its worker's stop, until the client's close frame: dropped.

    hypercorn refuses them (UnexpectedMessageError), which ended the app (its answer to a message that came
    before the close frame went); then nothing read the client's messages, hypercorn's queue for them filled,
    the client's close frame was never read, and the stop waited out the whole graceful timeout (30.4 s in
    4 of 5 restarts with 20 clients sending every half millisecond, by hand on the demo host).
    """
    if message is not None and getattr(self, "asgi_stack_closed_on_stop", False):
        return
    await _app_send(self, message)


WSStream.app_send = app_send
_worker_serve = hypercorn.asyncio.run.worker_serve
hypercorn.asyncio.run.worker_serve = worker_serve
hypercorn.asyncio.run.asyncio = _ServersTracked()
hypercorn.asyncio.run.TCPServer = StoppingTCPServer
hypercorn.asyncio.run.UDPServer = StoppingUDPServer
hypercorn.protocol.H2Protocol = StoppingH2Protocol
hypercorn.protocol.H11Protocol = StoppingH11Protocol


# The lowest TLS protocol of the host's Mozilla profile (ASGI_STACK_TLS_MINIMUM,
# TLSv1.3 for modern) on hypercorn's own TLS port: hypercorn sets TLS 1.2.
_create_ssl_context = hypercorn.config.Config.create_ssl_context


def create_ssl_context(self):
    context = _create_ssl_context(self)
    minimum = os.environ.get("ASGI_STACK_TLS_MINIMUM")
    if context is not None and minimum:
        context.minimum_version = ssl.TLSVersion[minimum.replace(".", "_")]
    return context


hypercorn.config.Config.create_ssl_context = create_ssl_context

# The largest WebSocket message (ASGI_STACK_WS_MAX_SIZE), which hypercorn
# takes from a settings file only: its default, for every connection.
if "ASGI_STACK_WS_MAX_SIZE" in os.environ:
    hypercorn.config.Config.websocket_max_message_size = int(os.environ["ASGI_STACK_WS_MAX_SIZE"])

# hypercorn loads this module in each worker, just before the worker serves: the
# first worker to get here tells systemd that the server serves (the unit's
# Type=notify, NotifyAccess=all), so a restart returns then, not while the
# workers still load the app.
notify_ready()
