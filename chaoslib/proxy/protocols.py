"""The asyncio protocols of a proxied connection: the accepted client side and the upstream side."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chaoslib.proxy.link import Link

if TYPE_CHECKING:
    from chaoslib.proxy.proxy import Proxy


class ClientSide(asyncio.Protocol):
    """The accepted client connection."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.link: Link | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.proxy.links) >= self.proxy.limits.max_connections:
            self.proxy.refuse(transport)
            return
        transport.pause_reading()  # nothing to forward to until the upstream answers
        self.link = Link(self.proxy, transport)
        self.proxy.adopt(self.link)
        self.proxy.loop.create_task(self._connect_upstream(self.link))

    async def _connect_upstream(self, link: Link) -> None:
        host, port = self.proxy.upstream_address()
        try:
            await link.before_connect()
            if link.closed:
                return
            await self.proxy.loop.create_connection(lambda: UpstreamSide(link), host, port)
        except (OSError, ValueError):
            # As in Toxiproxy: the client's connect succeeded, and now it is closed.
            link.close()

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link.upstream is None:  # type: ignore[union-attr]
            link.early.append(data)  # type: ignore[union-attr]
            link.client.pause_reading()  # type: ignore[union-attr]
        else:
            link.up.feed(data)  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        link = self.link
        assert link is not None
        if link.upstream is None:
            link.early_eof = True
        else:
            link.up.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.close()

    def pause_writing(self) -> None:
        self.link.down.pause_source()  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.link.down.resume_source()  # type: ignore[union-attr]


class UpstreamSide(asyncio.Protocol):
    """The connection the proxy opened to the upstream server."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.link.closed:
            transport.abort()
            return
        self.link.upstream_connected(transport)

    def data_received(self, data: bytes) -> None:
        self.link.down.feed(data)

    def eof_received(self) -> bool:
        self.link.down.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.close()

    def pause_writing(self) -> None:
        self.link.up.pause_source()

    def resume_writing(self) -> None:
        self.link.up.resume_source()
