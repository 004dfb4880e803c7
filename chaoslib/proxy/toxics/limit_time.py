"""limit_time: close a connection ``time`` ms after it opened or the toxic was added.

The "cable unplugged" fault for live sessions: data flows normally until the
cut. ``reset: 1`` cuts with an RST instead of a FIN. Removing the toxic before
the time is up leaves the connection alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chaoslib.proxy.toxics.base import ConnectionContext, Toxic


@dataclass
class Timer:
    handle: asyncio.TimerHandle | None = None


class LimitTime(Toxic):
    type_name = "limit_time"

    def new_state(self) -> Timer:
        return Timer()

    def on_attach(self, ctx: ConnectionContext, state: Timer) -> None:
        reset = bool(self.attributes.reset)
        state.handle = ctx.loop.call_later(
            self.attributes.time / 1000, lambda: ctx.close(reset=reset)
        )

    def on_detach(self, ctx: ConnectionContext, state: Timer) -> None:
        if state.handle is not None:
            state.handle.cancel()
