"""Workloads: sequence-numbered writes through a link, read back, for Jepsen-style loss checks.

Each write is an ``op`` event: ``ok=True`` when acknowledged, ``False`` when it
certainly failed, ``None`` when the outcome is unknown (the connection broke
after sending). The reader records ``kind="received"`` events. :meth:`result`
summarises both for :func:`chaoslib.experiment.checks.no_loss`.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.observe.base import Observer
from chaoslib.observe.history import History


@dataclass(frozen=True)
class WorkloadResult:
    name: str
    acked: tuple[int, ...]
    failed: tuple[int, ...]
    unknown: tuple[int, ...]
    received: tuple[int, ...]  # in arrival order, duplicates kept
    failure_times: tuple[float, ...]

    @classmethod
    def from_history(cls, history: History, name: str) -> WorkloadResult:
        events = history.select(source=name)
        ops = [e for e in events if e.kind == "op"]
        return cls(
            name=name,
            acked=tuple(e.value for e in ops if e.ok is True),
            failed=tuple(e.value for e in ops if e.ok is False),
            unknown=tuple(e.value for e in ops if e.ok is None),
            received=tuple(e.value for e in events if e.kind == "received"),
            failure_times=tuple(e.t for e in ops if e.ok is not True),
        )


class WriteUnknown(Exception):
    """The request went out but no answer came back: it may or may not have been applied."""


def _redis(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


class Workload(Observer):
    """A writer loop (this thread) and a reader thread; subclasses do the I/O."""

    kind = "op"

    def __init__(
        self,
        name: str,
        history: History | None = None,
        *,
        interval: float = 0.02,
        timeout: float = 1.0,
        reconnect_delay: float = 0.2,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        super().__init__(name, history, clock=clock)
        self.interval, self.timeout, self.reconnect_delay = interval, timeout, reconnect_delay
        self.seq = 0
        self._reader: threading.Thread | None = None
        self._reader_stop = threading.Event()
        self._drained = False

    # -- subclass hooks ------------------------------------------------------------
    def write(self, seq: int) -> None:
        raise NotImplementedError

    def read_loop(self) -> None:
        """Receive until ``self._reader_stop`` is set, calling :meth:`received`."""

    def final_read(self) -> None:
        """After writing stopped: a last read of what is stored (for durable stores)."""

    def unknown_error(self, exc: Exception) -> bool:
        """True if the write may have happened despite ``exc``."""
        return isinstance(exc, (redis.TimeoutError, TimeoutError))

    # -- machinery -------------------------------------------------------------------
    def received(self, seq: int) -> None:
        self.record(True, seq, kind="received")

    def setup(self) -> None:
        self._reader_stop.clear()
        self._reader = threading.Thread(
            target=self._read_guarded, name=f"read-{self.name}", daemon=True
        )
        self._reader.start()

    def _read_guarded(self) -> None:
        while not self._reader_stop.is_set():
            try:
                self.read_loop()
            except Exception as exc:
                self.record(False, detail=f"reader: {type(exc).__name__}: {exc}", kind="reader")
                self.clock.sleep(self.reconnect_delay, self._reader_stop)

    def run(self) -> None:
        while not self.stopping:
            self.seq += 1
            seq = self.seq
            try:
                self.write(seq)
                self.record(True, seq)
            except Exception as exc:
                ok = None if isinstance(exc, WriteUnknown) or self.unknown_error(exc) else False
                cause = exc.__cause__ or exc
                self.record(ok, seq, f"{type(cause).__name__}: {cause}")
            self.clock.sleep(self.interval, self._stop)

    def drain(self, timeout: float = 5.0) -> None:
        """Stop writing, let the reader catch up on acknowledged writes, then stop reading.

        Idempotent: a second call (``stop`` after ``drain``) must not read the results
        again, or every write would count as duplicated."""
        if self._drained:
            return
        self._drained = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        deadline = self.clock.now() + timeout
        while self.clock.now() < deadline and self._missing():
            self.clock.sleep(0.05)
        self._reader_stop.set()
        if self._reader is not None:
            self._reader.join(10)
        self.final_read()

    def stop(self) -> None:
        self.drain()

    def _missing(self) -> bool:
        r = self.result()
        return bool(set(r.acked) - set(r.received))

    def result(self) -> WorkloadResult:
        return WorkloadResult.from_history(self.history, self.name)


class _RedisWorkload(Workload):
    """A Redis writer that tells a write that was never sent from one whose answer was lost.

    A failure while connecting sent nothing: the write certainly failed. Once the
    command is on the wire, a broken connection or a timeout leaves the outcome
    unknown (Redis may have applied it), so it is recorded as unknown, never as failed.
    """

    def __init__(self, name: str, url: str, history: History | None, **kwargs: Any) -> None:
        super().__init__(name, history, **kwargs)
        self.url = url
        self._writer = _redis(url, self.timeout)

    def unknown_error(self, exc: Exception) -> bool:
        return False  # _send already raised WriteUnknown for every uncertain outcome

    def _send(self, *command: Any) -> Any:
        pool = self._writer.connection_pool
        conn = pool.get_connection()  # connects: an error here sent nothing
        try:
            conn.send_command(*command)
            return self._writer.parse_response(conn, command[0])
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            conn.disconnect()
            raise WriteUnknown(f"{type(exc).__name__}: {exc}") from exc
        finally:
            pool.release(conn)


class PubSubWorkload(_RedisWorkload):
    """PUBLISH on a channel, SUBSCRIBE to it: at-most-once, so outages lose messages."""

    def __init__(
        self, url: str, channel: str | None = None, history: History | None = None, **kwargs: Any
    ):
        super().__init__(kwargs.pop("name", "pubsub"), url, history, **kwargs)
        self.channel = channel or f"chaoslib:pubsub:{uuid.uuid4().hex[:8]}"

    def write(self, seq: int) -> None:
        self._send("PUBLISH", self.channel, str(seq))

    def read_loop(self) -> None:
        client = _redis(self.url, self.timeout)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            while not self._reader_stop.is_set():
                message = pubsub.get_message(timeout=0.1)
                if message and message["type"] == "message":
                    self.received(int(message["data"]))
        finally:
            pubsub.close()
            client.close()


class StreamWorkload(_RedisWorkload):
    """XADD to a stream; XREADGROUP + XACK in a consumer group, re-reading pending entries.

    Delivery is at least once: an entry whose XACK was lost with the
    connection comes again from the pending list. The consumer is idempotent
    (it remembers entry ids), as a real one must be; redeliveries are
    recorded as ``kind="redelivered"``, not as duplicates.
    """

    def __init__(
        self, url: str, stream: str | None = None, history: History | None = None, **kwargs: Any
    ):
        super().__init__(kwargs.pop("name", "stream"), url, history, **kwargs)
        self.stream = stream or f"chaoslib:stream:{uuid.uuid4().hex[:8]}"
        self.group = "chaoslib"
        self._seen: set[bytes] = set()

    def setup(self) -> None:
        # At start, not at construction: building an experiment touches no server.
        try:
            self._writer.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # started again: the group is already there
                raise
        super().setup()

    def write(self, seq: int) -> None:
        self._send("XADD", self.stream, "*", "seq", seq)

    def read_loop(self) -> None:
        client = _redis(self.url, self.timeout)
        try:
            start = "0"  # first whatever was delivered but never acknowledged
            while not self._reader_stop.is_set():
                reply = client.xreadgroup(
                    self.group, "reader", {self.stream: start}, count=100, block=100
                )
                entries = reply[0][1] if reply else []
                if start == "0" and not entries:
                    start = ">"
                    continue
                for entry_id, fields in entries:
                    seq = int(fields[b"seq"])
                    if entry_id in self._seen:
                        self.record(True, seq, kind="redelivered")
                    else:
                        self._seen.add(entry_id)
                        self.received(seq)
                    client.xack(self.stream, self.group, entry_id)
        finally:
            client.close()


class PostgresWorkload(Workload):
    """INSERT sequence numbers; the final read is what the table holds."""

    def __init__(
        self, url: str, table: str | None = None, history: History | None = None, **kwargs: Any
    ):
        super().__init__(kwargs.pop("name", "postgres"), history, **kwargs)
        self.url = url
        self.table = table or f"chaoslib_workload_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (seq bigint NOT NULL)")
        self._conn: psycopg.Connection | None = None

    def write(self, seq: int) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
        try:
            self._conn.execute(f"INSERT INTO {self.table} (seq) VALUES (%s)", (seq,))
        except psycopg.OperationalError as exc:
            # Lost mid-statement: the INSERT may or may not have committed.
            self._conn.close()
            self._conn = None
            raise WriteUnknown(str(exc)) from exc

    def final_read(self) -> None:
        if self._conn is not None:
            self._conn.close()
        with psycopg.connect(self.url, connect_timeout=5) as conn:
            for (seq,) in conn.execute(f"SELECT seq FROM {self.table} ORDER BY seq"):
                self.received(seq)

    def _missing(self) -> bool:
        return False  # nothing to wait for: durability is read once, at the end
