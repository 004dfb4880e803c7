"""One proxied TCP connection: the client socket, the upstream socket, two directions.

How each direction forwards (fast path, toxic pump, taps) is in
:mod:`chaoslib.proxy.direction`.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct

from chaoslib.proxy.direction import Direction, Tap
from chaoslib.proxy.fdlimit import BUDGET
from chaoslib.proxy.toxics.base import Toxic
from chaoslib.proxy.views import ProxyView


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Close at once with an RST (SO_LINGER 0), not a FIN after flushing."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def bound_transport(transport: asyncio.Transport) -> asyncio.Transport:
    """Make a transport ask to pause as soon as it buffers anything, and resume once empty.

    Its default (pause past 64 KiB, resume under 16 KiB) let the proxy hold that much
    again on top of ``-max-buffered`` and one read, and a buffer that drains below the
    mark without emptying sends no event to resume on. The kernel's socket buffer
    (megabytes on loopback) still keeps the peer fed while the source waits.
    """
    transport.set_write_buffer_limits(high=0, low=0)
    return transport


class Connection:
    """A client connection and its upstream connection, with both directions."""

    def __init__(
        self, proxy: ProxyView, client: asyncio.Transport, *, budgeted: bool = False
    ) -> None:
        """``budgeted``: the connection holds a place in the process's open-files budget
        (:data:`chaoslib.proxy.fdlimit.BUDGET`), given back when it closes."""
        self.proxy = proxy
        self.budgeted = budgeted
        self.loop = proxy.loop
        self.rng: random.Random = proxy.rng
        self.max_buffered = proxy.limits.max_buffered
        self.client = client
        peer = client.get_extra_info("peername")
        self.peer: str | None = peer[0] if isinstance(peer, tuple) else None
        self.upstream: asyncio.Transport | None = None
        self.closed = False
        # Client bytes that arrive before the upstream connection is open
        # (uvloop may deliver data despite pause_reading in connection_made).
        self.early: list[bytes] = []
        self.early_eof = False
        self.up = Direction(self, proxy, "upstream")
        self.down = Direction(self, proxy, "downstream")
        self.up.src = client
        self.down.dst = bound_transport(client)
        self.up.sync()
        self.down.sync()

    def wants(self, toxic: Toxic) -> bool:
        """Whether the toxic is active on this connection: its clients, then one toxicity draw."""
        return toxic.applies_to(self.peer) and self.draw(toxic.toxicity)

    async def before_connect(self) -> None:
        """Run connect-time toxics (connect_delay) before the upstream is opened."""
        for entry in self.up.entries + self.down.entries:
            if entry.active and not self.closed:
                await entry.toxic.on_connect(self, entry.state)

    def draw(self, toxicity: float) -> bool:
        if toxicity >= 1:
            return True
        if toxicity <= 0:
            return False
        return self.rng.random() < toxicity

    def direction(self, stream: str) -> Direction:
        return self.up if stream == "upstream" else self.down

    def upstream_connected(self, transport: asyncio.Transport) -> None:
        self.upstream = transport
        self.up.dst = bound_transport(transport)
        self.down.src = transport
        early, self.early = self.early, []
        for data in early:
            self.up.feed(data)
        if self.early_eof:
            self.up.feed_eof()
        elif not self.closed and not self.up.src_paused_by_queue:
            # (The early bytes may have filled the queue already: then the pump resumes it.)
            self.client.resume_reading()

    @property
    def mid_stream(self) -> bool:
        """Whether the client has sent anything yet (a protocol toxic joining late)."""
        return self.up.seen > 0

    def add_reply_tap(self, tap: Tap) -> None:
        # Nearest the destination last: the newest protocol toxic sits nearest the
        # server on the other direction, so it must see the replies first.
        self.down.taps.insert(0, tap)
        self.down.replain()

    def remove_reply_tap(self, tap: Tap) -> None:
        if tap in self.down.taps:
            self.down.taps.remove(tap)
            self.down.replain()

    def reply(self, tap: Tap, data: bytes) -> None:
        """Send the client an answer the proxy made up, as if from past ``tap``."""
        self.down.emit_after(tap, data)

    def close(self, *, reset: bool = False) -> None:
        """Close both sockets: FIN after flushing, or RST at once with ``reset``."""
        if self.closed:
            return
        self.closed = True
        self.up.plain = self.down.plain = None
        for transport in (self.client, self.upstream):
            if transport is None:
                continue
            if reset:
                reset_transport(transport)
            else:
                transport.close()
        self.up.stop()
        self.down.stop()
        self.proxy.forget(self)
        if self.budgeted:
            self.budgeted = False
            BUDGET.give_back()

    def abort(self) -> None:
        """Drop the connection now (the proxy was disabled or deleted)."""
        if self.closed:
            return
        for transport in (self.client, self.upstream):
            if transport is not None:
                transport.abort()
        self.close()
