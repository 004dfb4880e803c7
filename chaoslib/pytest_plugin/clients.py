"""Clients that reach Redis and PostgreSQL through a named link, for the plugin's factory
fixtures (``chaos_redis_client``, ``chaos_pg_client``), as pytest-redis's ``redisdb``.

What "cleaned between tests" means here: every connection a factory made is closed, and
only what the factory itself created is removed; a user's data never is.

- PostgreSQL: by default each test gets a database of its own, created by the factory
  (``CREATE DATABASE``, through the direct URL, which no fault touches) and dropped at
  teardown. With ``dbname=`` the test uses an existing database, the user's: its
  connections are closed and nothing in it is touched.
- Redis has no "create a database": its logical databases always exist and may hold the
  user's keys, so the factory never runs FLUSHDB. It removes only the keys the test
  names as its own (``cleanup_keys``, glob patterns), also through the direct URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from loguru import logger
from psycopg import sql

from chaoslib.errors import ConfigError
from chaoslib.target import Target

# A client blocked on a stalled link would hang the test: these bound it (overridable).
REDIS_TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
PG_CONNECT_TIMEOUT = 5


def _direct(target: Target, link: str, service: str) -> str:
    """The URL that reaches ``link``'s server without the proxy; ConfigError otherwise."""
    target.link(link)  # an unknown link: the accepted ones are named
    if target.link_services.get(link) != service or service not in target.direct:
        accepted = ", ".join(target.links_to(service)) or "none"
        raise ConfigError(f"link {link!r} does not lead to {service}; links to it: {accepted}")
    return target.direct[service]


class RedisClients:
    """``chaos_redis_client(link="redis", cleanup_keys=(), **kwargs)``: a ``redis.Redis``
    through ``link``. ``kwargs`` go to ``redis.Redis.from_url`` (default timeouts 5 s)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._made: list[redis.Redis] = []
        self._patterns: list[tuple[str, int, str]] = []  # (direct url, db, pattern)

    def __call__(
        self, link: str = "redis", *, cleanup_keys: str | Sequence[str] = (), **kwargs: Any
    ) -> redis.Redis:
        direct = _direct(self.target, link, "redis")
        client = redis.Redis.from_url(self.target.url(link), **{**REDIS_TIMEOUTS, **kwargs})
        self._made.append(client)
        db = int(client.connection_pool.connection_kwargs.get("db", 0))
        patterns = [cleanup_keys] if isinstance(cleanup_keys, str) else list(cleanup_keys)
        self._patterns += [(direct, db, pattern) for pattern in patterns]
        return client

    def close(self) -> None:
        """Every client closed, then the keys the test named deleted (never a FLUSHDB)."""
        for client in self._made:
            client.close()
            client.connection_pool.disconnect()
        self._made.clear()
        for direct, db, pattern in self._patterns:
            with redis.Redis.from_url(direct, db=db, **REDIS_TIMEOUTS) as own:
                keys = list(own.scan_iter(match=pattern, count=500))
                if keys:
                    own.delete(*keys)
                logger.debug("chaos_redis_client: deleted {} keys matching {}", len(keys), pattern)
        self._patterns.clear()


class PostgresClients:
    """``chaos_pg_client(link="timescaledb", dbname=None, **kwargs)``: a
    ``psycopg.Connection`` through ``link``, to this test's own database (created on the
    first call, shared by every call for that server) or to ``dbname``. ``kwargs`` go to
    ``psycopg.connect`` (``connect_timeout`` 5 s by default)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._made: list[psycopg.Connection] = []
        self._created: dict[str, str] = {}  # direct url -> the database this factory created

    def __call__(
        self, link: str = "timescaledb", *, dbname: str | None = None, **kwargs: Any
    ) -> psycopg.Connection:
        conn = psycopg.connect(
            self.url(link, dbname=dbname), **{"connect_timeout": PG_CONNECT_TIMEOUT, **kwargs}
        )
        self._made.append(conn)
        return conn

    def url(self, link: str = "timescaledb", *, dbname: str | None = None) -> str:
        """The URL through ``link`` to this test's own database (or ``dbname``): for the
        service under test, so that it and the test see the same data."""
        direct = _direct(self.target, link, "postgres")
        return _with_dbname(self.target.url(link), dbname or self.own_database(direct))

    def own_database(self, direct: str) -> str:
        if direct not in self._created:
            name = f"chaos_test_{uuid.uuid4().hex[:10]}"
            with self._admin(direct) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            self._created[direct] = name
        return self._created[direct]

    def _admin(self, direct: str) -> psycopg.Connection:
        return psycopg.connect(direct, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT)

    def close(self) -> None:
        """Every connection closed, then each database this factory created dropped (its
        other sessions, a service's through the proxy, ended with it: FORCE)."""
        for conn in self._made:
            conn.close()
        self._made.clear()
        while self._created:
            direct, name = self._created.popitem()
            with self._admin(direct) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))
