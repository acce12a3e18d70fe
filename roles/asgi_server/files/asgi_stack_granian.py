# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The application named by ASGI_STACK_APPLICATION, behind granian's proxy-headers wrapper; a WebSocket limit;
open WebSockets closed with 1012 when a worker stops.

granian has no option to trust a proxy's headers; it ships a wrapper that
takes the client's address and scheme from X-Forwarded-For and
X-Forwarded-Proto. Every peer is trusted: the socket's directory admits
nginx alone, which sets those headers itself.

A granian worker told to stop (a restart, a reload) dropped its open
WebSockets without a close frame: their clients saw the connection reset
(247 of them through 20 restarts under a busy load). Here the worker's stop
signal first closes each open WebSocket with 1012 (service restart), as
uvicorn does, waits up to a second for the close frames to leave, and only
then lets granian stop the worker; a second signal stops it at once. A
WebSocket the application accepts after the signal (its handshake was on
its way) is closed the same way at once.

Used by asgi.stack.asgi_server as granian's target (``asgi_stack_granian:application``).
"""

import asyncio
import os
import signal
from importlib import import_module

import granian._signals
from granian.utils.proxies import wrap_asgi_with_proxy_headers

module_name, _dummy, attribute = os.environ["ASGI_STACK_APPLICATION"].partition(":")
target = import_module(module_name)
for name in (attribute or "application").split("."):
    target = getattr(target, name)

# The largest WebSocket message a client may send (ASGI_STACK_WS_MAX_SIZE):
# granian has no such option (it holds a message up to its own WebSocket
# library's cap). A larger message closes the connection with 1009, message
# too big, and the application hears that the client left.
LIMIT = int(os.environ.get("ASGI_STACK_WS_MAX_SIZE", "0"))


def _size(message: dict) -> int:
    return len(message.get("bytes") or b"") + len((message.get("text") or "").encode())


def limited(app):
    """The application, whose WebSocket messages larger than LIMIT close the connection."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "websocket" or not LIMIT:
            await app(scope, receive, send)
            return

        async def receive_limited():
            message = await receive()
            if message["type"] == "websocket.receive" and _size(message) > LIMIT:
                await send({"type": "websocket.close", "code": 1009})
                return {"type": "websocket.disconnect", "code": 1009}
            return message

        await app(scope, receive_limited, send)

    return wrapped


# The send callables of the WebSockets this worker has accepted and not yet closed.
OPEN_WEBSOCKETS: set = set()
# Whether the worker has been told to stop: a WebSocket it accepts from then on is closed at once.
STOPPING: list = []
# What a WebSocket open when its worker stops gets, and how long the worker waits for the close frames to leave.
STOP_CLOSE = {"type": "websocket.close", "code": 1012}
STOP_CLOSE_WAIT_S = 1.0


def tracked(app):
    """The application, whose accepted WebSockets are in OPEN_WEBSOCKETS until they close."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return

        async def send_tracked(message):
            await send(message)
            if message["type"] == "websocket.accept":
                if STOPPING:
                    await send(STOP_CLOSE)
                    return
                OPEN_WEBSOCKETS.add(send)
            elif message["type"] == "websocket.close":
                OPEN_WEBSOCKETS.discard(send)

        try:
            await app(scope, receive, send_tracked)
        finally:
            OPEN_WEBSOCKETS.discard(send)

    return wrapped


async def close_open_websockets() -> None:
    """Sends each open WebSocket its close frame, within STOP_CLOSE_WAIT_S."""
    closing = [asyncio.ensure_future(send(STOP_CLOSE)) for send in list(OPEN_WEBSOCKETS)]
    OPEN_WEBSOCKETS.clear()
    if closing:
        await asyncio.wait(closing, timeout=STOP_CLOSE_WAIT_S)


def set_loop_signals(loop):
    """granian's handler of the worker's stop signals, which first closes the open WebSockets."""
    stopped = granian_set_loop_signals(loop)

    def stop(signum, frame):
        if STOPPING:
            stopped.set()
            return
        STOPPING.append(signum)
        loop.create_task(close_open_websockets()).add_done_callback(lambda _task: stopped.set())

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum, None)
    return stopped


# granian's worker (granian 2.5 to 2.8) imports the function from granian._signals
# once it has loaded its target, this module: it gets this one.
granian_set_loop_signals = granian._signals.set_loop_signals
granian._signals.set_loop_signals = set_loop_signals

application = wrap_asgi_with_proxy_headers(tracked(limited(target)), trusted_hosts="*")
