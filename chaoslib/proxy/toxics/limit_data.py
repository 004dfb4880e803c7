"""limit_data: forward ``bytes`` bytes in this direction, then close the connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic


@dataclass
class Sent:
    count: int = 0  # survives updates of the toxic, as in Toxiproxy


class LimitData(Toxic):
    type_name = "limit_data"

    def new_state(self) -> Sent:
        return Sent()

    async def pipe(self, chunk: Chunk, ctx: ConnectionContext, state: Sent) -> AsyncIterator[bytes]:
        room = self.attributes.bytes - state.count
        if room > 0:
            piece = chunk.data[:room]
            state.count += len(piece)
            yield piece
        if state.count >= self.attributes.bytes:
            ctx.close()
