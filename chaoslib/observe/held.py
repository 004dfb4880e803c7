"""Probes that keep one connection open, so a sample's latency is one statement's.

A probe that connects afresh each time (:mod:`chaoslib.observe.probes`) pays for
the connect's round trips: through a link slowed by 300 ms it answers in seconds,
and its latency says nothing about what one statement took. These keep their
connection, and drop it on any failure (the next sample connects again, which
is then part of its latency). A sample that outlives its deadline is a failure
whose latency is the deadline; the connection it blocked is abandoned to it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoslib.observe.base import Probe
from chaoslib.observe.history import History


class HeldProbe(Probe):
    """Subclasses say how to connect, run one request, and close."""

    def __init__(self, name: str, history: History | None = None, **kwargs: Any) -> None:
        super().__init__(name, history, **kwargs)
        self._conn: Any = None
        self._conn_lock = threading.Lock()

    def connect(self) -> Any:
        raise NotImplementedError

    def request(self, conn: Any) -> None:
        raise NotImplementedError

    def close(self, conn: Any) -> None:
        raise NotImplementedError

    def check(self) -> None:
        with self._conn_lock:  # taken out: a check blocked past its deadline keeps its own
            conn, self._conn = self._conn, None
        if conn is None:
            conn = self.connect()
        try:
            self.request(conn)
        except BaseException:
            self._quietly_close(conn)
            raise
        with self._conn_lock:
            if self._conn is None and not self.stopping:
                self._conn, conn = conn, None
        if conn is not None:
            self._quietly_close(conn)

    def _quietly_close(self, conn: Any) -> None:
        with contextlib.suppress(Exception):  # a dead connection may fail to close: gone anyway
            self.close(conn)

    def teardown(self) -> None:
        super().teardown()
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            self._quietly_close(conn)


class HeldRedisProbe(HeldProbe):
    """A command (PING by default) on one kept Redis connection."""

    def __init__(
        self, url: str, history: History | None = None, *, name: str = "redis",
        command: tuple[str, ...] = ("PING",), **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(name, history, **kwargs)
        self.url, self.command = url, command

    def connect(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.url,
            socket_timeout=self.deadline,
            socket_connect_timeout=self.deadline,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
        )

    def request(self, conn: redis.Redis) -> None:
        conn.execute_command(*self.command)

    def close(self, conn: redis.Redis) -> None:
        conn.close()


class HeldSqlProbe(HeldProbe):
    """A statement (``SELECT 1`` by default) on one kept PostgreSQL connection, never
    prepared (so each run sends its SQL, as a statement-matching toxic needs to see)."""

    def __init__(
        self, url: str, history: History | None = None, *, name: str = "sql",
        query: str = "SELECT 1", **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(name, history, **kwargs)
        self.url, self.query = url, query

    def connect(self) -> psycopg.Connection:
        # libpq's connect_timeout has a floor of 2 s; the probe's deadline bounds it anyway.
        conn = psycopg.connect(
            self.url,
            connect_timeout=max(2, int(self.deadline) + 1),
            autocommit=True,
            options=f"-c statement_timeout={int(self.deadline * 1000) + 1000}",
        )
        conn.prepare_threshold = None
        return conn

    def request(self, conn: psycopg.Connection) -> None:
        conn.execute(self.query).fetchall()

    def close(self, conn: psycopg.Connection) -> None:
        conn.close()
