"""latency: delay each chunk by ``latency`` ± ``jitter`` ms, counted from when it was read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chaoslib.proxy.toxics.base import Chunk, LinkContext, Toxic, jittered


class Latency(Toxic):
    type_name = "latency"

    async def pipe(self, chunk: Chunk, ctx: LinkContext, state: Any) -> AsyncIterator[bytes]:
        delay = jittered(self.attributes.latency, self.attributes.jitter, ctx.rng)
        # Measured from the read, so chunks queued behind a sleeping one are
        # not delayed twice: the toxic adds latency, not a throughput cap.
        await self.sleep(ctx, chunk.read_at + delay - ctx.loop.time())
        yield chunk.data
