"""timeout: drop all data; close after ``timeout`` ms without a new chunk (0: never close).

Removing the toxic closes the connections it held, as Toxiproxy does: the
data it swallowed is gone, so the stream could not continue intact anyway.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic


@dataclass(eq=False)
class Timer:
    handle: asyncio.TimerHandle | None = None
    ctx: ConnectionContext | None = None  # the connection it closes


class Timeout(Toxic):
    type_name = "timeout"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # The armed timers, so that an update re-arms them with the new timeout, as
        # Toxiproxy restarts the toxic's Pipe (weak: a closed connection's go with it).
        self._timers: weakref.WeakSet[Timer] = weakref.WeakSet()

    def new_state(self) -> Timer:
        return Timer()

    def _arm(self, ctx: ConnectionContext, state: Timer) -> None:
        if state.handle:
            state.handle.cancel()
            state.handle = None
        state.ctx = ctx
        self._timers.add(state)
        if self.attributes.timeout > 0:
            state.handle = ctx.loop.call_later(self.attributes.timeout / 1000, self._fire, state)

    def _fire(self, state: Timer) -> None:
        self._timers.discard(state)
        if state.ctx is not None:
            state.ctx.close()

    def interrupt(self) -> None:
        super().interrupt()
        if self.removed:
            return  # on_detach closes each connection
        for state in list(self._timers):
            if state.ctx is not None:
                self._arm(state.ctx, state)

    def on_attach(self, ctx: ConnectionContext, state: Timer) -> None:
        self._arm(ctx, state)

    def on_detach(self, ctx: ConnectionContext, state: Timer) -> None:
        if state.handle:
            state.handle.cancel()
        self._timers.discard(state)
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
        self._timers.discard(state)
        return True
