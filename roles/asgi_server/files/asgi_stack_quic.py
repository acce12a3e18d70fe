# Managed by asgi.stack.asgi_server.
"""HTTP/3 as hypercorn serves it on its own TLS port, mended; loaded by files/asgi_stack_proxy_fix.py's QUIC server.

Importing this module replaces hypercorn's QUIC protocol and aioquic's HTTP/3 connection as hypercorn uses
them: a worker that serves no QUIC never imports it, nor aioquic (60 ms more to import, on a Debian 13 host
at rest, for each worker as it starts).
"""

from functools import partial

import hypercorn.protocol.h3
import hypercorn.protocol.quic
from aioquic.h3.connection import H3Connection, Setting
from aioquic.quic.events import ConnectionIdIssued, ConnectionIdRetired, ConnectionTerminated, ProtocolNegotiated
from hypercorn.protocol.h3 import H3Protocol
from hypercorn.protocol.quic import QuicProtocol


class StaticTableH3Connection(H3Connection):
    """HTTP/3 whose clients encode each request's headers on their own, without a table that another stream fills.

    aioquic offers clients a QPACK table of 4,096 bytes: curl's headers then refer to entries that the client
    adds on its QPACK encoder stream. curl 8.14.1 (Debian 13's) now and then opens neither that stream nor its
    control stream after the handshake (aioquic's trace shows the request as its only stream; curl's issue
    21463), and the request, which cannot be decoded without them, went unanswered: on a Debian 13 host, 12 to
    26 of 40 requests to hypercorn, each on a new connection, timed out after 5 s, the rest answered at once;
    none of 780 with no table offered. With QPACK_MAX_TABLE_CAPACITY 0 every request carries its headers
    itself, a few dozen bytes longer.
    """

    def _get_local_settings(self) -> dict[int, int]:
        settings = super()._get_local_settings()
        settings[Setting.QPACK_MAX_TABLE_CAPACITY] = 0
        settings[Setting.QPACK_BLOCKED_STREAMS] = 0
        return settings


class PromptQuicProtocol(QuicProtocol):
    """hypercorn's QUIC protocol, which routes a connection ID to its connection as soon as the client is given it.

    aioquic announces the connection IDs it gives a client (NEW_CONNECTION_ID frames) as it sends them, and
    hypercorn 0.18 learns of them (ConnectionIdIssued) only when it next handles the connection's events, on the
    next datagram or timer. A client switches to a new ID at once: its first datagrams to one (curl's request
    among them) were dropped as unknown, and came again only once the client's loss timer went off. Here the
    events that sending raised are handled at once, before the next datagram is read (what the application's
    answers send, through hypercorn's send_all, stays as hypercorn has it). By hand on a Debian 13 host, two
    runs of 150 requests, each a curl on a new connection: 99th percentile 45 and 46 ms, slowest 52 and 55 ms
    without; 17 and 18 ms, slowest 29 and 18 ms with.
    """

    async def _handle_events(self, connection, client=None) -> None:
        await self._handle_pending(connection, client)
        await self.send_all(connection)
        # What the sending raised, before the next datagram is read.
        await self._handle_pending(connection, client)

    async def _handle_pending(self, connection, client) -> None:
        """hypercorn's loop over the connection's events (protocol/quic.py, _handle_events), without the sending."""
        event = connection.quic.next_event()
        while event is not None:
            if isinstance(event, ConnectionTerminated):
                await connection.task.stop()
                for cid in connection.cids:
                    del self.connections[cid]
                connection.cids = set()
            elif isinstance(event, ProtocolNegotiated):
                connection.h3 = H3Protocol(
                    self.app,
                    self.config,
                    self.context,
                    self.task_group,
                    self.state,
                    client,
                    self.server,
                    connection.quic,
                    partial(self.send_all, connection),
                )
            elif isinstance(event, ConnectionIdIssued):
                connection.cids.add(event.connection_id)
                self.connections[event.connection_id] = connection
            elif isinstance(event, ConnectionIdRetired):
                connection.cids.remove(event.connection_id)
                del self.connections[event.connection_id]
            if connection.h3 is not None:
                await connection.h3.handle(event)
            event = connection.quic.next_event()


hypercorn.protocol.quic.QuicProtocol = PromptQuicProtocol
hypercorn.protocol.h3.H3Connection = StaticTableH3Connection
