"""slow_close: pass data through, but hold the close for ``delay`` ms after the stream ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaoslib.proxy.toxics.base import LinkContext, Toxic, attr


@dataclass(frozen=True)
class SlowCloseAttributes:
    delay: int = attr(unit="ms")


class SlowClose(Toxic):
    type_name = "slow_close"
    Attributes = SlowCloseAttributes

    async def on_eof(self, ctx: LinkContext, state: Any) -> bool:
        await self.sleep(ctx, self.attributes.delay / 1000)
        return True
