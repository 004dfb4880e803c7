"""One proxy: a listener, its upstream, its toxics and its live connections."""

from __future__ import annotations

import asyncio
import errno
import random
from typing import Any

from loguru import logger

from chaoslib.proxy.addresses import format_address, parse_listen, parse_upstream, resolve_host
from chaoslib.proxy.connection import Connection
from chaoslib.proxy.errors import ApiError
from chaoslib.proxy.limits import Limits
from chaoslib.proxy.protocols import ClientSide
from chaoslib.proxy.toxic_collection import ToxicCollection
from chaoslib.proxy.toxics import STREAMS, Toxic
from chaoslib.proxy.views import Counters

BACKLOG = 1024


class Proxy:
    def __init__(
        self,
        name: str,
        listen: str,
        upstream: str,
        *,
        enabled: bool,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
        limits: Limits | None = None,
    ) -> None:
        parse_listen(listen)
        self.limits = limits or Limits()
        self._upstream = parse_upstream(upstream)
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = enabled
        self.loop = loop
        self.rng = rng
        self.toxics = ToxicCollection(self._toxics_changed, self.limits.max_toxics)
        self.toxics_version = 0  # bumped on every add and remove; connections compare it
        self.connections: set[Connection] = set()
        self.counters = {stream: Counters() for stream in STREAMS}
        self._server: asyncio.AbstractServer | None = None
        self.general_path = False  # every chunk through the pump (tests of the general path)
        self.refused = 0  # connections closed at once because max_connections were open
        self._warned = False

    def chain(self, stream: str) -> list[Toxic]:
        """The toxics on ``stream``, in order: what a connection's direction runs."""
        return self.toxics.chain(stream)

    # -- lifecycle ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        host, port = parse_listen(self.listen)
        ip = resolve_host(host)
        try:
            self._server = await self.loop.create_server(
                lambda: ClientSide(self), ip, port, reuse_address=True, backlog=BACKLOG
            )
        except OSError as exc:
            reason = (
                "address already in use"
                if exc.errno == errno.EADDRINUSE
                else (exc.strerror or str(exc))
            )
            raise ApiError(f"listen tcp {ip}:{port}: bind: {reason}", 500) from None
        self.listen = format_address(self._server.sockets[0].getsockname())
        self.enabled = True

    def stop(self) -> None:
        """Close the listener and every connection (new connects are refused)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()

    # -- connections ----------------------------------------------------------------
    def adopt(self, conn: Connection) -> None:
        self.connections.add(conn)

    def forget(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if self._warned and len(self.connections) < self.limits.max_connections * 0.9:
            self._warned = False

    def refuse(self, transport: asyncio.Transport) -> None:
        """Close a connection beyond max_connections at once (a reset, so the client knows)."""
        self.refused += 1
        transport.abort()
        if not self._warned:  # once per time at the cap, not once per connection
            self._warned = True
            logger.warning(
                "proxy {}: {} connections open, the cap (-max-connections); "
                "closing new ones until some end ({} so far)",
                self.name,
                len(self.connections),
                self.refused,
            )

    def upstream_address(self) -> tuple[str, int]:
        return self._upstream

    def set_upstream(self, upstream: str) -> None:
        self._upstream = parse_upstream(upstream)
        self.upstream = upstream

    def _toxics_changed(
        self, event: str, stream: str, toxic: Toxic, toxicity_changed: bool
    ) -> None:
        if event == "update":
            if toxicity_changed:  # otherwise the shared toxic object already has the new values
                for conn in list(self.connections):
                    conn.direction(stream).retoxify(toxic, toxicity_changed)
            return
        self.toxics_version += 1
        if toxic.acts_on_data_only():
            return  # each connection syncs its chain before its next chunk (Direction.feed)
        for conn in list(self.connections):
            conn.direction(stream).sync()

    # -- JSON -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        # "Logger": {} is what Toxiproxy 2.12.0 really sends (an untagged Go field);
        # clients that decode into a strict struct expect to tolerate it.
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "Logger": {},
            "toxics": [toxic.to_json() for toxic in self.toxics.all()],
        }
