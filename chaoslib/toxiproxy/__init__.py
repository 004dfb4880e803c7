"""A typed client for any Toxiproxy API: the embedded server or the real toxiproxy-server."""

from chaoslib.toxiproxy.client import Proxy, Toxic, Toxiproxy, ToxiproxyError

__all__ = ["Proxy", "Toxic", "Toxiproxy", "ToxiproxyError"]
