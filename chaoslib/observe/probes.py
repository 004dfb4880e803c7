"""Health probes: a TCP connect, a Redis PING, a SQL statement; each with a short timeout."""

from __future__ import annotations

import socket
from typing import Any

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoslib.observe.base import Probe
from chaoslib.observe.history import History


class TcpProbe(Probe):
    def __init__(
        self,
        address: tuple[str, int],
        history: History | None = None,
        *,
        name: str | None = None,
        timeout: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or f"tcp:{address[0]}:{address[1]}", history, **kwargs)
        self.address, self.timeout = address, timeout

    def check(self) -> None:
        socket.create_connection(self.address, timeout=self.timeout).close()


class RedisPing(Probe):
    """PING on a fresh connection each time, so a dead link is seen at once."""

    def __init__(
        self,
        url: str,
        history: History | None = None,
        *,
        name: str | None = None,
        timeout: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or "redis_ping", history, **kwargs)
        self.url, self.timeout = url, timeout

    def check(self) -> None:
        client = redis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            client.ping()
        finally:
            client.close()


class SqlProbe(Probe):
    def __init__(
        self,
        url: str,
        history: History | None = None,
        *,
        query: str = "SELECT 1",
        name: str | None = None,
        timeout: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or "sql", history, **kwargs)
        self.url, self.query, self.timeout = url, query, timeout

    def check(self) -> None:
        # libpq's connect_timeout has a floor of 2 s; the statement timeout bounds a slow query.
        with psycopg.connect(
            self.url,
            connect_timeout=max(2, int(self.timeout)),
            options=f"-c statement_timeout={int(self.timeout * 1000)}",
        ) as conn:
            conn.execute(self.query).fetchall()


def tcp(address: tuple[str, int], history: History | None = None, **kwargs: Any) -> TcpProbe:
    return TcpProbe(address, history, **kwargs)


def redis_ping(url: str, history: History | None = None, **kwargs: Any) -> RedisPing:
    return RedisPing(url, history, **kwargs)


def sql(
    url: str, history: History | None = None, query: str = "SELECT 1", **kwargs: Any
) -> SqlProbe:
    return SqlProbe(url, history, query=query, **kwargs)
