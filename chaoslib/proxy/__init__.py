"""The embedded Toxiproxy-compatible server: asyncio data plane, aiohttp API, toxics/.

It knows nothing of chaoslib's higher layers; any Toxiproxy client drives it.
The server is imported on first use of ``ProxyServer``, so that a client reading
only :mod:`chaoslib.proxy.schema` (the toxic schema) does not load asyncio and aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoslib.proxy.server import ProxyServer

__all__ = ["ProxyServer"]


def __getattr__(name: str) -> Any:
    if name == "ProxyServer":
        from chaoslib.proxy.server import ProxyServer

        return ProxyServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
