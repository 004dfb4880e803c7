"""When faults start and stop: pure functions over offsets, no sleeping here.

A schedule is a sequence of :class:`Window` s (offsets from the experiment's
start). Flapping is a window per cycle, with optional seeded jitter, computed
when asked for: a million cycles cost nothing until they run. A timeline merges
several faults' windows lazily into one ordered stream of actions. A window with
no end (:func:`until_stopped`) holds until the run is stopped.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

from chaoslib.errors import ConfigError

OPEN = math.inf  # the end of a window that holds until the run is stopped


@dataclass(frozen=True, order=True)
class Window:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def is_open(self) -> bool:
        return self.end == OPEN


@dataclass(frozen=True, order=True)
class Action:
    at: float
    order: int  # heals sort before applies at the same instant
    verb: str  # "apply" or "heal"
    fault: str


def once(at: float, duration: float) -> list[Window]:
    if not (math.isfinite(at) and math.isfinite(duration)) or at < 0 or duration < 0:
        raise ConfigError(
            f"a fault needs at >= 0 and for >= 0 seconds, both finite (got at={at}, "
            f"for={duration}); a fault held until the run is stopped is until_stopped(at)"
        )
    return [Window(at, at + duration)]


def until_stopped(at: float = 0.0) -> list[Window]:
    """One window from ``at`` with no end: healed when the run is stopped (Ctrl-C, stop())."""
    if not math.isfinite(at) or at < 0:
        raise ConfigError(f"a fault needs at >= 0 seconds (got at={at})")
    return [Window(at, OPEN)]


class FlapWindows(Sequence[Window]):
    """``cycles`` windows of ``down_for`` seconds, one every ``period`` seconds, each one
    computed when it is asked for (window *i* in O(1), from its own seeded draw)."""

    def __init__(
        self, period: float, down_for: float, cycles: int, at: float, jitter: float, seed: int
    ) -> None:
        self.period, self.down_for, self.cycles = period, down_for, cycles
        self.at, self.jitter, self.seed = at, jitter, seed

    def _window(self, i: int) -> Window:
        shift = 0.0
        if self.jitter:
            slack = (self.period - self.down_for) / 2
            # A string seed is hashed (SHA-512) the same way on every run and platform.
            shift = random.Random(f"{self.seed}/{i}").uniform(-self.jitter, self.jitter)
            shift = max(-slack, min(slack, shift))
        start = max(self.at, self.at + i * self.period + shift)
        return Window(start, start + self.down_for)

    def __len__(self) -> int:
        return self.cycles

    @overload
    def __getitem__(self, index: int) -> Window: ...
    @overload
    def __getitem__(self, index: slice) -> list[Window]: ...
    def __getitem__(self, index: int | slice) -> Window | list[Window]:
        if isinstance(index, slice):
            return [self._window(i) for i in range(*index.indices(self.cycles))]
        if index < 0:
            index += self.cycles
        if not 0 <= index < self.cycles:
            raise IndexError(f"flap window {index} of {self.cycles}")
        return self._window(index)

    def __iter__(self) -> Iterator[Window]:
        return (self._window(i) for i in range(self.cycles))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(other) == self.cycles and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    @property
    def end(self) -> float:
        return self._window(self.cycles - 1).end

    def __repr__(self) -> str:
        return (
            f"FlapWindows(period={self.period:g}, down_for={self.down_for:g}, "
            f"cycles={self.cycles}, at={self.at:g}, jitter={self.jitter:g})"
        )


def flap(
    period: float,
    down_for: float,
    cycles: int,
    *,
    at: float = 0.0,
    jitter: float = 0.0,
    seed: int | None = None,
) -> FlapWindows:
    """``cycles`` windows of ``down_for`` seconds, one every ``period`` seconds.

    ``jitter`` shifts each window's start by up to ± that many seconds, drawn
    from ``seed``, but never so far that windows overlap or start before ``at``.
    """
    for value, what in ((period, "period"), (down_for, "down time"), (jitter, "jitter")):
        if not math.isfinite(value):
            raise ConfigError(f"flap {what} must be a finite number of seconds (got {value})")
    if period <= 0:
        raise ConfigError(f"flap period must be > 0 seconds (got {period})")
    if not 0 < down_for < period:
        raise ConfigError(f"flap down time must be > 0 and < the period {period} (got {down_for})")
    if cycles < 1:
        raise ConfigError(f"flap cycles must be 1 or more (got {cycles})")
    if jitter < 0:
        raise ConfigError(f"flap jitter must be >= 0 seconds (got {jitter})")
    if not math.isfinite(at) or at < 0:
        raise ConfigError(f"a flap needs at >= 0 seconds (got at={at})")
    drawn = random.getrandbits(64) if seed is None else seed
    return FlapWindows(period, down_for, cycles, at, jitter, drawn)


def _actions(name: str, windows: Iterable[Window]) -> Iterator[Action]:
    """One fault's applies and heals in time order, without building them all."""
    if isinstance(windows, list | tuple):  # a handful given by hand: any order, any overlap
        windows = sorted(windows)
        yield from sorted(
            itertools.chain.from_iterable(
                (Action(w.start, 1, "apply", name), Action(w.end, 0, "heal", name)) for w in windows
            )
        )
        return
    # A generated schedule (a flap) is in order and never overlaps: each heal comes
    # before the next apply, so the stream is ordered as it is made.
    for w in windows:
        yield Action(w.start, 1, "apply", name)
        yield Action(w.end, 0, "heal", name)


def timeline(faults: Mapping[str, Iterable[Window]]) -> Iterator[Action]:
    """Every apply and heal of every fault, in time order, merged as they are needed."""
    return heapq.merge(*(_actions(name, windows) for name, windows in faults.items()))


def end_of(windows: Iterable[Window]) -> float:
    """When the last window ends (OPEN if one never does)."""
    if isinstance(windows, FlapWindows):
        return windows.end
    return max((w.end for w in windows), default=0.0)


def total_duration(faults: Mapping[str, Iterable[Window]]) -> float:
    return max((end_of(ws) for ws in faults.values()), default=0.0)
