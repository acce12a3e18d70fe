# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""daphne whose stop lets the requests it is running finish.

When daphne stops (a restart, a deploy), it cancels every request it is
running and closes their connections. nginx sends such a request to the
other instance, if nothing reached the client yet; and if that instance is
restarted in turn before the request ends, nginx's tries run out against
instances that are down, and the client gets 502.

Here, when daphne is told to stop:

1. its socket's file is moved out of nginx's way (Twisted removes it under
   its new name when daphne exits), so that new connections go to the other
   instance at once; those already waiting on the socket are still taken;
2. a running request's response closes its connection
   (``Connection: close``); a connection with no request running is read on
   for one more second, a request that arrives is answered the same way, and
   the connection is closed then;
3. each open WebSocket gets a close frame 1001 (going away), as does one
   opened meanwhile, where daphne's own stop drops it without one; its
   client connects again, to the other instance;
4. the stop waits until no HTTP request runs and every WebSocket has
   closed, within daphne's ``--application-close-timeout``, and then goes
   on as daphne's own, which cancels what is left.

Used by asgi.stack.asgi_server for the daphne kind as its command
(``python -m asgi_stack_daphne``, which takes daphne's arguments).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import weakref

from daphne import server as daphne_server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, reactor, task
from twisted.web import http

# Seconds a connection with no request running is read on after the stop began.
GRACE = 1.0
# The close code a WebSocket gets when the stop begins: going away.
GOING_AWAY = 1001
# How often the stop looks whether requests still run.
POLL = 0.05
# What the socket's file is renamed to while daphne stops.
ASIDE = ".stopping"

logger = logging.getLogger("daphne.server")
_channels: weakref.WeakSet = weakref.WeakSet()
_stopping = False
_check_persistence = http.HTTPChannel.checkPersistence


def _check_persistence_while_stopping(self, request, version):
    """A request that arrives once the stop began is answered with Connection: close."""
    persistent = _check_persistence(self, request, version)
    if persistent and _stopping:
        request.responseHeaders.setRawHeaders(b"Connection", [b"close"])
        return False
    return persistent


http.HTTPChannel.checkPersistence = _check_persistence_while_stopping


class _HTTPFactory(daphne_server.HTTPFactory):
    """daphne's HTTP factory, which also keeps the connections it makes (until they are gone)."""

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        _channels.add(protocol)
        return protocol


daphne_server.HTTPFactory = _HTTPFactory


def _channel(protocol):
    """The HTTP channel behind Twisted's protocol (which stands in for it until the protocol is known)."""
    return getattr(protocol, "_channel", protocol)


def _step_aside(port) -> None:
    """Renames a listening unix socket's file, so that no new connection reaches it."""
    for attribute in ("_bindPath", "port"):
        path = getattr(port, attribute, None)
        if isinstance(path, (bytes, str)) and path[:1] not in (b"\0", "\0", b"", ""):
            break
    else:
        return
    aside = path + (ASIDE.encode() if isinstance(path, bytes) else ASIDE)
    try:
        os.rename(path, aside)
    except OSError:
        return
    setattr(port, attribute, aside)


def _close_after_response() -> None:
    """Each connection with a request running closes once its response is sent."""
    for protocol in list(_channels):
        channel = _channel(protocol)
        requests = getattr(channel, "requests", None)
        if not requests:
            continue
        channel.persistent = False
        for request in requests:
            if not request.startedWriting:
                request.responseHeaders.setRawHeaders(b"Connection", [b"close"])


def _close_idle() -> None:
    """Closes each connection that has no request running."""
    for protocol in list(_channels):
        channel = _channel(protocol)
        transport = getattr(channel, "transport", None)
        if transport is not None and not getattr(channel, "requests", None):
            transport.loseConnection()


class Server(daphne_server.Server):
    """daphne's server, with the stop above."""

    def listen_success(self, port):
        self.asgi_stack_ports = [*getattr(self, "asgi_stack_ports", []), port]
        return super().listen_success(port)

    def connected(self, kind: type) -> list:
        """The connections of this kind (HTTP requests, WebSockets) not yet over."""
        return [
            protocol
            for protocol, details in list(self.connections.items())
            if isinstance(protocol, kind) and "disconnected" not in details
        ]

    def close_websockets(self) -> int:
        """Sends each open WebSocket a close frame; how many are still connected."""
        websockets = self.connected(WebSocketProtocol)
        for websocket in websockets:
            if websocket.state == websocket.STATE_OPEN:
                # Not serverClose: autobahn lets an application send 1000 or 3000-4999 only.
                websocket.sendCloseFrame(code=GOING_AWAY, isReply=False)
        return len(websockets)

    @defer.inlineCallbacks
    def kill_all_applications(self):
        global _stopping
        _stopping = True
        try:
            for port in getattr(self, "asgi_stack_ports", []):
                _step_aside(port)
            _close_after_response()
            started = time.monotonic()
            deadline = started + self.application_close_timeout
            idle_closed = False
            while time.monotonic() < deadline:
                websockets = self.close_websockets()
                if not idle_closed and time.monotonic() - started >= GRACE:
                    _close_idle()
                    idle_closed = True
                if idle_closed and not websockets and not self.connected(WebRequest):
                    break
                yield task.deferLater(reactor, POLL, lambda: None)
        except Exception:
            # Twisted's log goes nowhere: say it here, and stop as daphne would.
            logger.exception("asgi_stack_daphne: the graceful stop failed")
        result = yield daphne_server.Server.kill_all_applications(self)
        return result


class CommandLine(CommandLineInterface):
    server_class = Server


if __name__ == "__main__":
    sys.exit(CommandLine.entrypoint())
