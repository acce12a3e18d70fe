import json
import os
import socket

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    """Sends every text frame back unchanged."""

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
