"""latency: delay each chunk by ``latency`` ± ``jitter`` ms, counted from when it was read.

Toxics on one stream add up, as in Toxiproxy: a chunk leaves this toxic with its
read time moved on by the delay, so a second 100 ms toxic makes 200 ms. Only the
delay toxics move it (latency, and the protocol toxics' ``delay_ms``); bandwidth
and slicer keep the time they were given, as Toxiproxy's do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic, jittered


class Latency(Toxic):
    type_name = "latency"

    async def pipe(self, chunk: Chunk, ctx: ConnectionContext, state: Any) -> AsyncIterator[bytes]:
        delay = jittered(self.attributes.latency, self.attributes.jitter, ctx.rng)
        # Measured from the read, so chunks queued behind a sleeping one are
        # not delayed twice: the toxic adds latency, not a throughput cap.
        due = chunk.read_at + delay
        if await self.sleep(ctx, due - ctx.loop.time()):
            # Toxiproxy's rule: the chunk's timestamp moves on by the delay, so the
            # next latency toxic on the stream counts from here and two add up.
            chunk.read_at = due
        yield chunk.data
