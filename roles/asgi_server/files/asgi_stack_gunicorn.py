# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn's own ASGI worker, with the client's address from nginx's headers.

gunicorn's ASGI worker (``-k asgi``) takes the scheme from X-Forwarded-Proto
of a trusted peer (a unix socket's peer always is), but gives the
application the connection's own client, which on nginx's unix socket is
none. The application is wrapped in uvicorn's ProxyHeadersMiddleware, which
takes the client's address from X-Forwarded-For: the socket is reachable by
nginx alone, which sets that header itself.

Used by asgi.stack.asgi_server as gunicorn's worker class
(``asgi_stack_gunicorn.ASGIWorker``).
"""

from __future__ import annotations

from gunicorn.workers import gasgi
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class ASGIWorker(gasgi.ASGIWorker):
    """gunicorn's ASGI worker with the application behind nginx's proxy headers."""

    def load_wsgi(self):
        super().load_wsgi()
        self.asgi = ProxyHeadersMiddleware(self.asgi, trusted_hosts="*")
