"""The proxy server's bounds: how much it holds for whom, and who may call the API.

Toxiproxy has none of these; every default is far above what a test stack
uses, so they only bite on a runaway client, a fuzzer or a mistake.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from chaoslib.errors import ConfigError

TOKEN_ENV = "CHAOS_PROXY_TOKEN"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Limits:
    max_proxies: int = 1000
    max_toxics: int = 100  # per proxy, both streams together
    max_connections: int = 10_000  # open client connections per proxy
    # Bytes one direction of one connection may hold: the toxic queue (reading
    # pauses above it) and a protocol toxic's partial frame (it stops parsing).
    max_buffered: int = 4 << 20
    max_body: int = 1 << 20  # API request body
    # An API client that sends nothing (or a request too slowly) for this long is cut off.
    client_timeout: float = 10.0
    token: str | None = None  # required from non-loopback API clients when set

    def __post_init__(self) -> None:
        for name in ("max_proxies", "max_toxics", "max_connections", "max_buffered", "max_body"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} is {value!r}; accepted: a whole number of at least 1")
        if not 0 < self.client_timeout <= 3600:
            raise ConfigError(
                f"client_timeout is {self.client_timeout!r}; accepted: 0 < seconds <= 3600"
            )
        if self.token is not None and (len(self.token) < 16 or not self.token.isprintable()):
            raise ConfigError(
                "the API token is too short or has control characters; "
                "accepted: at least 16 printable characters"
            )

    @staticmethod
    def token_from_env() -> str | None:
        return os.environ.get(TOKEN_ENV) or None
