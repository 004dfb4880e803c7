"""Measures of one fault's own effect, taken through its link while it holds.

- :class:`StatementTimer`: a statement of the task's own run a few times (for
  ``db-slow --pattern``: one the pattern matches, or one it does not), timed.
  Only read-only statements are ever built: a ``SELECT`` of a literal, with the
  user's text inside a comment or a string, never a write to the user's tables.
- :class:`Transfer`: a known number of bytes read through the link (a Redis GET of
  a value the task wrote under a chaoslib-owned key, deleted after; PostgreSQL's
  ``SELECT repeat('x', n)``), timed: the throughput a bandwidth limit left.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis

from chaoslib.cli.measure import Sample, ms
from chaoslib.clock import REAL_CLOCK, Clock

MAX_TRANSFER = 8_000_000  # bytes: a probe, not a load test


def _pg(url: str, deadline: float) -> psycopg.Connection:
    conn = psycopg.connect(
        url, connect_timeout=max(2, int(deadline)), autocommit=True,
        options=f"-c statement_timeout={int(deadline * 1000)}",
    )  # fmt: skip
    conn.prepare_threshold = None  # each run sends its SQL, for a toxic to match
    return conn


def matches(pattern: str, sql: str) -> bool:
    """As the pg_query toxic matches: a case-insensitive search of the statement's SQL."""
    return bool(re.compile(pattern, re.I | re.S).search(sql))


def statement_for(pattern: str, matching: bool) -> str | None:
    """A read-only statement the pattern matches (``matching``) or does not; None if
    none of the safe shapes does."""
    if not matching:
        candidates = ["SELECT 1", "SELECT 2", "VALUES (1)", "SHOW server_version"]
        return next((sql for sql in candidates if not matches(pattern, sql)), None)
    texts = dict.fromkeys(
        [pattern, pattern.lstrip("^").rstrip("$"), re.sub(r"\\(.)", r"\1", pattern)]
    )
    candidates = []
    for text in texts:
        if "*/" not in text and "/*" not in text and "\0" not in text:
            candidates.append(f"SELECT 1 /* {text} */")
        if "\0" not in text:
            quoted = text.replace("'", "''")
            candidates.append(f"SELECT '{quoted}'")
    return next((sql for sql in candidates if matches(pattern, sql)), None)


@dataclass
class StatementTimer:
    """``sql`` run up to ``count`` times on one connection, from the apply, while there
    is time left before the heal for another run of ``expected`` seconds."""

    url: str
    sql: str
    label: str
    expected: float  # seconds one run should take under the fault
    count: int = 3
    deadline: float = 10.0
    clock: Clock = REAL_CLOCK
    results: list[Sample] = field(default_factory=list)
    error: str | None = None
    _conn: Any = None
    _thread: threading.Thread | None = None

    def prepare(self) -> None:
        self._conn = _pg(self.url, self.deadline)  # before the fault: connecting is not timed

    def start(self, heal_at: float | None) -> None:
        self._thread = threading.Thread(target=self._run, args=(heal_at,), daemon=True)
        self._thread.start()

    def _run(self, heal_at: float | None) -> None:
        try:
            for _ in range(self.count):
                began = self.clock.now()
                if heal_at is not None and began + self.expected * 1.5 + 0.3 > heal_at:
                    return
                self._conn.execute(self.sql).fetchall()
                self.results.append(Sample(began, self.clock.now(), True))
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def finish(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        if self._conn is not None and (self._thread is None or not self._thread.is_alive()):
            conn, self._conn = self._conn, None
            conn.close()

    def line(self) -> str:
        if not self.results:
            why = self.error or "the hold was too short for one run"
            return f"{self.label}: not measured ({why})"
        took = sorted(s.latency for s in self.results)
        return (f"{self.label}: {', '.join(ms(t) for t in took)} "
                f"({len(took)} run{'s' if len(took) > 1 else ''} of {self.sql!r})")  # fmt: skip


@dataclass
class Transfer:
    """``nbytes`` read through ``url`` once, from the apply; ``seconds`` it took."""

    url: str
    nbytes: int
    deadline: float
    clock: Clock = REAL_CLOCK
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    _conn: Any = None
    _key: str = field(default_factory=lambda: f"chaoslib:probe:transfer:{uuid.uuid4().hex}")
    _thread: threading.Thread | None = None

    @property
    def redis(self) -> bool:
        return self.url.startswith("redis")

    def prepare(self) -> None:
        """Connect, and for Redis write the value (chaoslib's key, expiring in a day)."""
        if self.redis:
            self._conn = redis.Redis.from_url(
                self.url, socket_timeout=self.deadline, single_connection_client=True
            )
            self._conn.set(self._key, b"x" * self.nbytes, ex=86400)
        else:
            self._conn = _pg(self.url, self.deadline)

    def start(self, heal_at: float | None = None) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.started = self.clock.now()
        try:
            if self.redis:
                got = len(self._conn.get(self._key) or b"")
            else:
                row = self._conn.execute("SELECT repeat('x', %s)", (self.nbytes,)).fetchone()
                got = len(row[0])
            if got != self.nbytes:
                raise RuntimeError(f"read {got} bytes, not {self.nbytes}")
            self.ended = self.clock.now()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def finish(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        if self._conn is None or (self._thread is not None and self._thread.is_alive()):
            return  # a stalled read keeps its connection; the key expires on its own
        conn, self._conn = self._conn, None
        try:
            if self.redis:
                conn.delete(self._key)
        finally:
            conn.close()

    @property
    def kbps(self) -> float | None:
        if self.started is None or self.ended is None or self.ended <= self.started:
            return None
        return self.nbytes / 1000 / (self.ended - self.started)


def transfer_size(rate_kbps: int, hold: float) -> int:
    """Bytes that take about a second (a third of a shorter hold) at ``rate_kbps``."""
    seconds = min(1.0, hold / 3) if hold > 0 else 1.0
    return max(1000, min(MAX_TRANSFER, int(rate_kbps * 1000 * seconds)))
