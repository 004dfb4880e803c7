"""connect_delay: hold a new connection ``delay`` ± ``jitter`` ms before opening the upstream.

The client's connect succeeds at once (the listener accepts it), but nothing
reaches the server and nothing comes back until the delay has passed: a slow
handshake as the application sees it. Connections already open are untouched.
Removing or updating the toxic releases the connections it is holding.
"""

from __future__ import annotations

from typing import Any

from chaoslib.proxy.toxics.base import ConnectionContext, Toxic, jittered


class ConnectDelay(Toxic):
    type_name = "connect_delay"

    async def on_connect(self, ctx: ConnectionContext, state: Any) -> None:
        await self.sleep(ctx, jittered(self.attributes.delay, self.attributes.jitter, ctx.rng))
