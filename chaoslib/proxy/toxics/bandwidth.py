"""bandwidth: limit a direction to ``rate`` KB/s (KB = 1000 bytes); 0 stalls without closing.

``scope: "proxy"`` (an extension) shares one rate among all connections of the
proxy instead of giving each connection its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic

SLICE_SECONDS = 0.1
# How far behind schedule the pacing may be and still catch up. Timers wake a
# little late (libuv rounds to 1 ms); restarting the schedule at each late wake
# would lose that time on every chunk (26 % at 100 MB/s). Further behind, the
# connection was idle: its schedule starts again now, with no burst for it.
CATCH_UP_SECONDS = 0.02


@dataclass
class Pace:
    due: float = 0.0  # when the bytes sent so far have "used up" the rate


class Bandwidth(Toxic):
    type_name = "bandwidth"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shared = Pace()  # the one schedule of scope "proxy"

    def new_state(self) -> Pace:
        return Pace()

    async def pipe(self, chunk: Chunk, ctx: ConnectionContext, state: Pace) -> AsyncIterator[bytes]:
        if self.attributes.scope == "proxy":
            # One schedule for every connection: each piece takes its turn of the shared rate.
            state = self.shared
        data = chunk.data
        while data:
            if self.removed:
                # As in Toxiproxy: a removed toxic hands on the rest of the chunk at once.
                yield data
                return
            rate = self.attributes.rate
            if rate == 0:
                # A healable stall: hold the data until the toxic changes.
                if await self.sleep(ctx, 3600.0):
                    continue
                yield data
                return
            most = max(1, int(rate * 1000 * SLICE_SECONDS))
            piece, data = data[:most], data[most:]
            now = ctx.loop.time()
            # Pace against a running schedule, not per-chunk sleeps, so that
            # the time spent forwarding does not add up into a slower rate.
            start = state.due if state.due >= now - CATCH_UP_SECONDS else now
            state.due = start + len(piece) / (rate * 1000)
            if not await self.sleep(ctx, state.due - now):
                state.due = ctx.loop.time()
            yield piece
