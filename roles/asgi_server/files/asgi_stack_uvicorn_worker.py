# Copyright: contributors to asgi.stack
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn's uvicorn worker with uvicorn's graceful stop of files/asgi_stack_uvicorn.py.

The worker class of the gunicorn_uvicorn kind
(``asgi_stack_uvicorn_worker.UvicornWorker``), installed with the two modules
it imports (the kinds table's python_modules): asgi_stack_uvicorn, whose
graceful stop answers the requests already on their way, and
asgi_stack_arbiter, which it shares with gunicorn's own worker
(files/asgi_stack_gunicorn.py): a stop that comes while the worker boots is
kept, and gunicorn counts started only once each worker serves.

A module of its own, so that uvicorn's kind, which installs
asgi_stack_uvicorn alone, never imports gunicorn's part, whatever its
virtualenv holds (one that a gunicorn_uvicorn release built has
uvicorn-worker).
"""

from __future__ import annotations

import os
from typing import ClassVar

# Imported for what importing it does: uvicorn's protocols get the graceful stop.
import asgi_stack_uvicorn  # noqa: F401  # pylint: disable=unused-import
from asgi_stack_arbiter import Worker
from uvicorn_worker import UvicornWorker as _UvicornWorker

# The largest WebSocket message of the unit (ASGI_STACK_WS_MAX_SIZE); uvicorn
# alone takes it on its command line (--ws-max-size).
_LIMIT = os.environ.get("ASGI_STACK_WS_MAX_SIZE")
_WEBSOCKET_LIMIT = {"ws_max_size": int(_LIMIT)} if _LIMIT else {}


class UvicornWorker(Worker, _UvicornWorker):
    """gunicorn's uvicorn worker: uvicorn's graceful stop, the unit's largest WebSocket message, no stop lost.

    And systemd counts gunicorn started once each worker serves (files/asgi_stack_arbiter.py).
    """

    CONFIG_KWARGS: ClassVar[dict] = {**_UvicornWorker.CONFIG_KWARGS, **_WEBSOCKET_LIMIT}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # gunicorn's graceful timeout bounds the worker's own stop too: uvicorn's worker leaves it unset, and a
        # worker replaced by a reload (SIGHUP: no one kills it after the graceful timeout, as a stop does) let a
        # running request run on (10 s of 10 with a timeout of 5, by hand on the demo host).
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout

    def init_signals(self) -> None:
        # The worker's own handlers: what was held is delivered to them now
        # (SIGTERM's default, until uvicorn's server sets its own, ends a
        # worker that has served nothing yet).
        super().init_signals()
        self.release_stops()
