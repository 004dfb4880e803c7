"""slow_close: pass data through, but hold the close for ``delay`` ms after the stream ends."""

from __future__ import annotations

from typing import Any

from chaoslib.proxy.toxics.base import ConnectionContext, Toxic


class SlowClose(Toxic):
    type_name = "slow_close"

    async def on_eof(self, ctx: ConnectionContext, state: Any) -> bool:
        await self.sleep(ctx, self.attributes.delay / 1000)
        return True
