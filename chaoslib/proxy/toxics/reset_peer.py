"""reset_peer: on the first chunk (or the end of the stream), wait ``timeout`` ms, then RST.

Once the wait has begun it runs out, as in Toxiproxy: its ``Pipe`` waits on a
plain ``time.After`` that no interrupt reaches (toxics/reset_peer.go), so
removing the toxic, changing its ``timeout`` or setting ``toxicity: 0`` blocks
until the timer fires and the connection is reset then, not at once. The chunk
that started the wait is discarded whatever happens, so there are no bytes to
hand on early; what the wait holds is the connection's fate, already decided.
A connection that has sent nothing yet is not waiting: the change reaches it
as any other toxic's would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic


class ResetPeer(Toxic):
    type_name = "reset_peer"

    async def _reset(self, ctx: ConnectionContext) -> None:
        # Not self.sleep: that one ends early when the toxic changes (see the docstring).
        # Closing the connection still cancels it, with the pump.
        if self.attributes.timeout > 0:
            await asyncio.sleep(self.attributes.timeout / 1000)
        ctx.close(reset=True)

    async def pipe(self, chunk: Chunk, ctx: ConnectionContext, state: Any) -> AsyncIterator[bytes]:
        await self._reset(ctx)  # the chunk is discarded
        return
        yield

    async def on_eof(self, ctx: ConnectionContext, state: Any) -> bool:
        await self._reset(ctx)
        return False
