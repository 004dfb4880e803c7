"""reset_peer: on the first chunk (or the end of the stream), wait ``timeout`` ms, then RST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from chaoslib.proxy.toxics.base import Chunk, LinkContext, Toxic, attr


@dataclass(frozen=True)
class ResetPeerAttributes:
    timeout: int = attr(unit="ms")


class ResetPeer(Toxic):
    type_name = "reset_peer"
    Attributes = ResetPeerAttributes

    async def _reset(self, ctx: LinkContext) -> None:
        await self.sleep(ctx, self.attributes.timeout / 1000)
        ctx.close(reset=True)

    async def pipe(self, chunk: Chunk, ctx: LinkContext, state: Any) -> AsyncIterator[bytes]:
        await self._reset(ctx)  # the chunk is discarded
        return
        yield

    async def on_eof(self, ctx: LinkContext, state: Any) -> bool:
        await self._reset(ctx)
        return False
