"""Time as a dependency: real for runs, manual for tests of timing logic."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Sleep; return False early if ``cancel`` is set."""


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if seconds <= 0:
            return not (cancel and cancel.is_set())
        if cancel is None:
            time.sleep(seconds)
            return True
        return not cancel.wait(seconds)


class ManualClock:
    """Time moves only when someone sleeps on it: schedules run instantly and exactly."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if cancel is not None and cancel.is_set():
            return False
        self._now += max(0.0, seconds)
        self.slept.append(seconds)
        return True

    def advance(self, seconds: float) -> None:
        self._now += seconds


REAL_CLOCK = RealClock()
