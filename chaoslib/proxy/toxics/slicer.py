"""slicer: cut chunks into pieces of ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic


class Slicer(Toxic):
    type_name = "slicer"

    async def pipe(self, chunk: Chunk, ctx: ConnectionContext, state: Any) -> AsyncIterator[bytes]:
        data = memoryview(chunk.data)
        attrs = self.attributes
        while data:
            size = attrs.average_size
            if attrs.size_variation:
                # At a variation equal to the average a draw can be 0: a piece is 1 byte at least.
                size = max(1, size + ctx.rng.randint(-attrs.size_variation, attrs.size_variation))
            piece, data = data[:size], data[size:]
            yield bytes(piece)
            if data and not await self.sleep(ctx, attrs.delay / 1_000_000):
                yield bytes(data)  # changed mid-chunk: forward the rest at once
                return
