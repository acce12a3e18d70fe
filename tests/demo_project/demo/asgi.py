"""ASGI entry point: HTTP goes to Django, WebSockets to Channels consumers."""

import os
import time

from django.core.asgi import get_asgi_application

# For the tests: an app that takes this many seconds to load, as a large
# project does (tests/integration/test_asgi_server.py).
time.sleep(float(os.environ.get("DEMO_LOAD_DELAY", "0")))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from core.consumers import EchoConsumer, RoomConsumer
from django.urls import path

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            URLRouter(
                [
                    path("ws/echo/", EchoConsumer.as_asgi()),
                    path("ws/room/<slug:name>/", RoomConsumer.as_asgi()),
                ]
            )
        ),
    }
)

# And, for the same tests, a mark for each process that has loaded the app: a
# file named after its process id in DEMO_LOADED_DIR.
if os.environ.get("DEMO_LOADED_DIR"):
    open(os.path.join(os.environ["DEMO_LOADED_DIR"], str(os.getpid())), "w").close()
