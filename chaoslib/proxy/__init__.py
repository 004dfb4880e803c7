"""The embedded Toxiproxy-compatible server: asyncio data plane, aiohttp API, toxics/.

It knows nothing of chaoslib's higher layers; any Toxiproxy client drives it.
"""

from chaoslib.proxy.server import ProxyServer

__all__ = ["ProxyServer"]
