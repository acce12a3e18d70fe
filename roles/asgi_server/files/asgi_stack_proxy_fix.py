# Managed by asgi.stack.asgi_server.
"""The application named by ASGI_STACK_APPLICATION, behind hypercorn's ProxyFixMiddleware.

hypercorn has no list of trusted proxies. Its unix socket is reachable by
nginx alone, which sets X-Forwarded-For and X-Forwarded-Proto itself, so one
trusted hop gives Django the client's address and scheme. Requests that reach
hypercorn's own TLS port come straight from clients: their headers are not
trusted, and hypercorn's own view of the connection stands.

HTTP/3 allows only lower-case header names, and hypercorn 0.18 passes
Django's (Content-Type) to aioquic as they are; clients then drop the
response after its status line. Responses on the TLS port get lower-case
names (HTTP header names are case-insensitive, so nothing else changes).
"""

import os
from importlib import import_module

from hypercorn.middleware import ProxyFixMiddleware

module_name, _, attribute = os.environ["ASGI_STACK_APPLICATION"].partition(":")
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
