# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The application named by ASGI_STACK_APPLICATION, behind granian's proxy-headers wrapper; a WebSocket limit.

granian has no option to trust a proxy's headers; it ships a wrapper that
takes the client's address and scheme from X-Forwarded-For and
X-Forwarded-Proto. Every peer is trusted: the socket's directory admits
nginx alone, which sets those headers itself.

Used by asgi.stack.asgi_server as granian's target (``asgi_stack_granian:application``).
"""

import os
from importlib import import_module

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


application = wrap_asgi_with_proxy_headers(limited(target), trusted_hosts="*")
