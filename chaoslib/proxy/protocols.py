"""The asyncio protocols of a proxied connection: the accepted client side and the upstream side."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger

from chaoslib.proxy.fdlimit import BUDGET, REFUSALS, out_of_budget, out_of_files
from chaoslib.proxy.link import Link, reset_transport

if TYPE_CHECKING:
    from chaoslib.proxy.proxy import Proxy

OUT_OF_FILES = (errno.EMFILE, errno.ENFILE)


def refuse_for_files(
    proxy: Proxy, transport: asyncio.BaseTransport, reason: str, why: Callable[[], str]
) -> None:
    """Reset a connection the process has no file descriptors for; count it, log it (rate-limited).

    Counted in the same ``refused`` as ``-max-connections`` refusals: to a client, both are
    a connection the proxy accepted and reset at once.
    """
    REFUSALS.refused(proxy, reason, why)
    reset_transport(transport)


class ClientSide(asyncio.Protocol):
    """The accepted client connection."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.link: Link | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.proxy.links) >= self.proxy.limits.max_connections:
            self.proxy.refuse(transport)
            return
        if not BUDGET.take():
            refuse_for_files(self.proxy, transport, "files", out_of_budget)
            return
        transport.pause_reading()  # nothing to forward to until the upstream answers
        self.link = Link(self.proxy, transport, budgeted=True)
        self.proxy.adopt(self.link)
        self.proxy.loop.create_task(self._connect_upstream(self.link))

    async def _connect_upstream(self, link: Link) -> None:
        host, port = self.proxy.upstream_address()
        try:
            await link.before_connect()
            if link.closed:
                return
            await self.proxy.loop.create_connection(lambda: UpstreamSide(link), host, port)
        except OSError as exc:
            if exc.errno not in OUT_OF_FILES:
                link.close()  # as in Toxiproxy: the client's connect succeeded, now it is closed
                return
            # Not the upstream's fault: say so, and reset, as for any refusal.
            why = out_of_files("opening the upstream connection")
            REFUSALS.refused(self.proxy, "upstream-files", why)
            link.close(reset=True)
        except ValueError:
            link.close()
        except Exception as exc:
            # A connect-time toxic that raised: never leave the client waiting on nothing.
            logger.opt(exception=exc).error(
                "proxy {}: opening the upstream for a connection from {} failed ({}: {}); "
                "resetting the connection",
                self.proxy.name,
                link.peer,
                type(exc).__name__,
                exc,
            )
            link.close(reset=True)

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link.upstream is None:  # type: ignore[union-attr]
            link.early.append(data)  # type: ignore[union-attr]
            link.client.pause_reading()  # type: ignore[union-attr]
        else:
            link.up.feed(data)  # type: ignore[union-attr]

    def connected(self, link: Link) -> None:
        """The upstream is open: from now on the client's reads go straight to the direction."""
        self.data_received = link.up.feed  # type: ignore[method-assign]
        link.client.set_protocol(self)  # (uvloop looks data_received up again here)

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
        # The transport calls the direction itself: uvloop looks data_received up once,
        # when the protocol is set, and a frame less per read is ~5 % of the proxy's CPU.
        self.data_received = link.down.feed  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.link.closed:
            transport.abort()
            return
        self.link.upstream_connected(transport)
        client_side = self.link.client.get_protocol()
        if isinstance(client_side, ClientSide):
            client_side.connected(self.link)

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
