"""The asyncio protocols of a proxied connection: the accepted client side and the upstream side."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable

from loguru import logger

from chaoslib.proxy.connection import Connection, reset_transport
from chaoslib.proxy.fdlimit import BUDGET, REFUSALS, out_of_budget, out_of_files
from chaoslib.proxy.views import ProxyView

OUT_OF_FILES = (errno.EMFILE, errno.ENFILE)


def refuse_for_files(
    proxy: ProxyView, transport: asyncio.BaseTransport, reason: str, why: Callable[[], str]
) -> None:
    """Reset a connection the process has no file descriptors for; count it, log it (rate-limited).

    Counted in the same ``refused`` as ``-max-connections`` refusals: to a client, both are
    a connection the proxy accepted and reset at once.
    """
    REFUSALS.refused(proxy, reason, why)
    reset_transport(transport)


class ClientSide(asyncio.Protocol):
    """The accepted client connection."""

    def __init__(self, proxy: ProxyView) -> None:
        self.proxy = proxy
        self.conn: Connection | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.proxy.connections) >= self.proxy.limits.max_connections:
            self.proxy.refuse(transport)
            return
        if not BUDGET.take():
            refuse_for_files(self.proxy, transport, "files", out_of_budget)
            return
        transport.pause_reading()  # nothing to forward to until the upstream answers
        self.conn = Connection(self.proxy, transport, budgeted=True)
        self.proxy.adopt(self.conn)
        self.proxy.loop.create_task(self._connect_upstream(self.conn))

    async def _connect_upstream(self, conn: Connection) -> None:
        host, port = self.proxy.upstream_address()
        try:
            await conn.before_connect()
            if conn.closed:
                return
            await self.proxy.loop.create_connection(lambda: UpstreamSide(conn), host, port)
        except OSError as exc:
            if exc.errno not in OUT_OF_FILES:
                conn.close()  # as in Toxiproxy: the client's connect succeeded, now it is closed
                return
            # Not the upstream's fault: say so, and reset, as for any refusal.
            why = out_of_files("opening the upstream connection")
            REFUSALS.refused(self.proxy, "upstream-files", why)
            conn.close(reset=True)
        except ValueError:
            conn.close()
        except Exception as exc:
            # A connect-time toxic that raised: never leave the client waiting on nothing.
            logger.opt(exception=exc).error(
                "proxy {}: opening the upstream for a connection from {} failed ({}: {}); "
                "resetting the connection",
                self.proxy.name,
                conn.peer,
                type(exc).__name__,
                exc,
            )
            conn.close(reset=True)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn.upstream is None:  # type: ignore[union-attr]
            conn.early.append(data)  # type: ignore[union-attr]
            conn.client.pause_reading()  # type: ignore[union-attr]
        else:
            conn.up.feed(data)  # type: ignore[union-attr]

    def connected(self, conn: Connection) -> None:
        """The upstream is open: from now on the client's reads go straight to the direction."""
        self.data_received = conn.up.feed  # type: ignore[method-assign]
        conn.client.set_protocol(self)  # (uvloop looks data_received up again here)

    def eof_received(self) -> bool:
        conn = self.conn
        assert conn is not None
        if conn.upstream is None:
            conn.early_eof = True
        else:
            conn.up.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.close()

    def pause_writing(self) -> None:
        self.conn.down.pause_source()  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.conn.down.resume_source()  # type: ignore[union-attr]


class UpstreamSide(asyncio.Protocol):
    """The connection the proxy opened to the upstream server."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # The transport calls the direction itself: uvloop looks data_received up once,
        # when the protocol is set, and a frame less per read is ~5 % of the proxy's CPU.
        self.data_received = conn.down.feed  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.conn.closed:
            transport.abort()
            return
        self.conn.upstream_connected(transport)
        client_side = self.conn.client.get_protocol()
        if isinstance(client_side, ClientSide):
            client_side.connected(self.conn)

    def data_received(self, data: bytes) -> None:
        self.conn.down.feed(data)

    def eof_received(self) -> bool:
        self.conn.down.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.close()

    def pause_writing(self) -> None:
        self.conn.up.pause_source()

    def resume_writing(self) -> None:
        self.conn.up.resume_source()
