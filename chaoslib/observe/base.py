"""Observers: background threads that record events into a History."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from loguru import logger

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.observe.history import Event, History


class Observer:
    """Start/stop lifecycle around a ``run`` loop on a daemon thread."""

    kind = "probe"

    def __init__(
        self, name: str, history: History | None = None, *, clock: Clock = REAL_CLOCK
    ) -> None:
        self.name = name
        self.history = history if history is not None else History()
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(
        self, ok: bool | None, value: Any = None, detail: str = "", kind: str | None = None
    ) -> Event:
        event = Event(self.clock.now(), self.name, kind or self.kind, ok, value, detail)
        self.history.add(event)
        return event

    def start(self) -> Observer:
        if self._thread is None:
            self._stop.clear()
            self.setup()
            self._thread = threading.Thread(
                target=self._guarded, name=f"observe-{self.name}", daemon=True
            )
            self._thread.start()
        return self

    def _guarded(self) -> None:
        try:
            self.run()
        except Exception as exc:  # an observer failing must not end the experiment
            logger.error("observer {} failed: {}", self.name, exc)
            self.record(None, detail=f"observer failed: {exc}", kind="error")

    def setup(self) -> None:
        """Work done before the thread starts (bind a port, open a file)."""

    def run(self) -> None:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self.teardown()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def teardown(self) -> None:
        """Unblock ``run`` (close a socket, a pubsub) so stop returns promptly."""

    def __enter__(self) -> Observer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Probe(Observer):
    """Calls ``check()`` every ``interval`` seconds and records ok/failed with the latency.

    Each check runs on a worker thread with a deadline: a client blocked on a
    stalled link (no client-side timeout in libpq) counts as a failure instead
    of freezing the probe.
    """

    def __init__(
        self,
        name: str,
        history: History | None = None,
        *,
        interval: float = 0.1,
        deadline: float = 3.0,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        super().__init__(name, history, clock=clock)
        self.interval = interval
        self.deadline = deadline
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"probe-{name}")

    def check(self) -> None:
        """Raise on failure."""
        raise NotImplementedError

    def run(self) -> None:
        while not self.stopping:
            started = self.clock.now()
            try:
                self._pool.submit(self.check).result(self.deadline)
                self.record(True, round(self.clock.now() - started, 6))
            except FutureTimeout:
                self.record(
                    False,
                    round(self.clock.now() - started, 6),
                    f"no answer within {self.deadline:g}s",
                )
            except Exception as exc:
                if self.stopping:
                    break
                self.record(
                    False, round(self.clock.now() - started, 6), f"{type(exc).__name__}: {exc}"
                )
            self.clock.sleep(self.interval - (self.clock.now() - started), self._stop)

    def teardown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
