"""Lines of a log file that match patterns, as the guide's ``Select-String`` greps would find them."""

from __future__ import annotations

import re
import threading
import time
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

from chaoslib.clock import Clock
from chaoslib.observe.base import Observer
from chaoslib.observe.history import Event, History

# How old a stamped line may be before it counts from (now - LATE) instead: a lagging reader or a
# writer with a wrong clock must not push events far outside the experiment.
LATE = 5.0
# A change of (clock - wall) bigger than this is a step (the wall clock was set, or a manual clock
# advanced), not measurement noise (microseconds): only then is the mapping measured anew.
STEP = 1.0


class LogObserver(Observer):
    """Tails ``path`` from its current end (or start) and records each matching line.

    ``value`` is the name of the pattern that matched (its key in ``patterns``),
    ``detail`` the whole line. A file that is truncated or replaced is followed.
    """

    kind = "log"

    def __init__(
        self,
        path: str | Path,
        patterns: dict[str, str] | list[str],
        history: History | None = None,
        *,
        name: str | None = None,
        from_start: bool = False,
        interval: float = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or f"log:{Path(path).name}", history, **kwargs)
        self.path = Path(path)
        items = patterns.items() if isinstance(patterns, dict) else ((p, p) for p in patterns)
        self.patterns = {key: re.compile(regex) for key, regex in items}
        self.from_start, self.interval = from_start, interval
        self._offset = 0

    def setup(self) -> None:
        if not self.from_start and self.path.exists():
            self._offset = self.path.stat().st_size

    def _poll(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self._offset:
            self._offset = 0  # truncated or replaced
        if size == self._offset:
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read(size - self._offset)
        complete = data.rfind(b"\n") + 1
        self._offset += complete
        now = self.clock.now()
        offset = wall_offset(self.clock)
        for raw in data[:complete].splitlines():
            line = raw.decode("utf-8", "replace")
            for key, regex in self.patterns.items():
                if regex.search(line):
                    at = _at(_stamp(line), offset, now)
                    self.history.add(Event(at, self.name, self.kind, True, key, line))

    def run(self) -> None:
        while not self.stopping:
            self._poll()
            self.clock.sleep(self.interval, self._stop)
        self._poll()  # lines written just before the stop still count


class _WallOffset:
    """``clock.now() - time.time()``, measured once and kept until the clocks step apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset: float | None = None

    def get(self, clock: Clock) -> float:
        fresh = _measure(clock)
        with self._lock:
            if self._offset is None or abs(fresh - self._offset) > STEP:
                self._offset = fresh
            return self._offset


def _measure(clock: Clock, tries: int = 5) -> float:
    """The offset from the tightest of a few brackets ``now, wall, now``: a thread switch
    inside one bracket would skew it by milliseconds, as large as the stamps' resolution."""
    width, offset = float("inf"), 0.0
    for _ in range(tries):
        before, wall, after = clock.now(), time.time(), clock.now()
        if after - before < width:
            width, offset = after - before, (before + after) / 2 - wall
    return offset


_OFFSETS: weakref.WeakKeyDictionary[Any, _WallOffset] = weakref.WeakKeyDictionary()
_PINNED: dict[int, tuple[Any, _WallOffset]] = {}  # clocks that take no weak reference
_OFFSETS_LOCK = threading.Lock()


def wall_offset(clock: Clock) -> float:
    """One wall-to-clock mapping per clock, shared by every observer on it.

    Each poll used to sample its own ``now`` and ``time.time()``, so two lines with the same
    stamp read in different polls (or by two services' observers) landed microseconds apart, in
    either order: half the time a shard's ``add_game`` fell before the orchestrator's line of the
    same millisecond that caused it, and outside a window that starts there.
    """
    with _OFFSETS_LOCK:
        try:
            mapping = _OFFSETS.setdefault(clock, _WallOffset())
        except TypeError:
            mapping = _PINNED.setdefault(id(clock), (clock, _WallOffset()))[1]
    return mapping.get(clock)


def _at(stamp: float | None, offset: float, now: float) -> float:
    """A line stamped by its writer counts from that moment, not from when it was read, so two
    services' lines compare correctly whichever file was read first; equal stamps, equal ``t``."""
    if stamp is None:
        return now
    return min(max(stamp + offset, now - LATE), now)


# A zoned ISO-8601 stamp: leading a text line, or a JSON line's first field ({"ts": "…"}).
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)")
STAMP_WITHIN = 64  # characters from the start of the line


def _stamp(line: str) -> float | None:
    """The first ISO-8601 timestamp with a zone near the line's start, as epoch seconds;
    None without one (the line then counts from when it was read)."""
    found = _ISO.search(line, 0, STAMP_WITHIN)
    if found is None:
        return None
    try:
        return datetime.fromisoformat(found.group()).timestamp()
    except ValueError:
        return None


def logs(
    path: str | Path,
    patterns: dict[str, str] | list[str],
    history: History | None = None,
    **kwargs: Any,
) -> LogObserver:
    return LogObserver(path, patterns, history, **kwargs)
