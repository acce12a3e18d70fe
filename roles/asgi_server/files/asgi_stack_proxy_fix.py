# Managed by asgi.stack.asgi_server.
"""The application named by ASGI_STACK_APPLICATION, behind hypercorn's ProxyFixMiddleware.

hypercorn has no list of trusted proxies. The socket it serves is reachable by
nginx alone, which sets X-Forwarded-For and X-Forwarded-Proto itself, so one
trusted hop gives Django the client's address and scheme.
"""

import os
from importlib import import_module

from hypercorn.middleware import ProxyFixMiddleware

module_name, _, attribute = os.environ["ASGI_STACK_APPLICATION"].partition(":")
target = import_module(module_name)
for name in (attribute or "application").split("."):
    target = getattr(target, name)

application = ProxyFixMiddleware(target, mode="legacy", trusted_hops=1)
