"""timeout: drop all data; close after ``timeout`` ms without a new chunk (0: never close).

Removing the toxic closes the connections it held, as Toxiproxy does: the
data it swallowed is gone, so the stream could not continue intact anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic


@dataclass
class Timer:
    handle: asyncio.TimerHandle | None = None


class Timeout(Toxic):
    type_name = "timeout"

    def new_state(self) -> Timer:
        return Timer()

    def _arm(self, ctx: ConnectionContext, state: Timer) -> None:
        if state.handle:
            state.handle.cancel()
        if self.attributes.timeout > 0:
            state.handle = ctx.loop.call_later(self.attributes.timeout / 1000, ctx.close)

    def on_attach(self, ctx: ConnectionContext, state: Timer) -> None:
        self._arm(ctx, state)

    def on_detach(self, ctx: ConnectionContext, state: Timer) -> None:
        if state.handle:
            state.handle.cancel()
        ctx.close()

    async def pipe(
        self, chunk: Chunk, ctx: ConnectionContext, state: Timer
    ) -> AsyncIterator[bytes]:
        self._arm(ctx, state)  # every dropped chunk restarts the clock
        return
        yield  # an async generator that yields nothing

    async def on_eof(self, ctx: ConnectionContext, state: Timer) -> bool:
        if state.handle:
            state.handle.cancel()
        return True
