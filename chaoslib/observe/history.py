"""Timestamped events from every observer, in one thread-safe, in-memory history."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One observation. ``t`` is the experiment clock (monotonic seconds)."""

    t: float
    source: str  # the observer's name
    kind: str  # "probe", "message", "log", "delivery", "op", "fault", ...
    ok: bool | None = None  # None: unknown (an op whose outcome was not seen)
    value: Any = None
    detail: str = ""
    wall: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        value = self.value
        if not isinstance(value, (str, int, float, bool, type(None), list, dict)):
            value = repr(value)
        return {
            "t": round(self.t, 6),
            "wall": round(self.wall, 6),
            "source": self.source,
            "kind": self.kind,
            "ok": self.ok,
            "value": value,
            "detail": self.detail,
        }


class History:
    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def add(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            self._changed.notify_all()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.snapshot())

    def snapshot(self) -> list[Event]:
        with self._lock:
            return sorted(self._events, key=lambda e: e.t)

    def select(
        self,
        source: str | None = None,
        kind: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Event]:
        return [
            e
            for e in self.snapshot()
            if (source is None or e.source == source)
            and (kind is None or e.kind == kind)
            and (since is None or e.t >= since)
            and (until is None or e.t <= until)
        ]

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float) -> Event | None:
        """Block until an event matching ``predicate`` is recorded (or was already)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for event in self._events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)
