import asyncio
import json
import os
import socket
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

# The most seconds ``?accept_after=`` may ask for.
ACCEPT_AFTER_AT_MOST_S = 10.0


class EchoConsumer(AsyncWebsocketConsumer):
    """Sends every text frame back unchanged.

    ``?accept_after=S`` accepts the handshake S seconds after it arrived, as an app does that first looks up who
    connects: a server that stops meanwhile must not answer it with an error
    (tests/integration/test_asgi_server.py).
    """

    async def connect(self):
        asked = parse_qs(self.scope["query_string"].decode()).get("accept_after", ["0"])[0]
        try:
            delay = float(asked)
        except ValueError:
            delay = 0.0
        await asyncio.sleep(delay if 0.0 <= delay <= ACCEPT_AFTER_AT_MOST_S else 0.0)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


class RoomConsumer(AsyncWebsocketConsumer):
    """A chat room: every text frame goes to everyone in the room (a Channels group).

    A group spans processes and hosts only through a shared channel layer
    (channels-redis); with the in-memory layer it reaches only the clients
    connected to the same process.
    """

    async def connect(self):
        self.group = "room-" + self.scope["url_route"]["kwargs"]["name"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # Which server process, on which app host, holds this connection.
        await self.send(text_data=json.dumps({"joined": self.group, "pid": os.getpid(), "host": socket.gethostname()}))

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(self.group, {"type": "room.message", "text": text_data or ""})

    async def room_message(self, event):
        await self.send(text_data=json.dumps({"message": event["text"]}))
