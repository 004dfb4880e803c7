"""When faults start and stop: pure functions over offsets, no sleeping here.

A schedule is a list of :class:`Window` s (offsets from the experiment's
start). Flapping is a window per cycle, with optional seeded jitter; a
timeline merges several faults' windows into one ordered list of actions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from chaoslib.errors import ConfigError


@dataclass(frozen=True, order=True)
class Window:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, order=True)
class Action:
    at: float
    order: int  # heals sort before applies at the same instant
    verb: str  # "apply" or "heal"
    fault: str


def once(at: float, duration: float) -> list[Window]:
    if at < 0 or duration < 0:
        raise ConfigError(
            f"a fault needs at >= 0 and for >= 0 seconds (got at={at}, for={duration})"
        )
    return [Window(at, at + duration)]


def flap(
    period: float,
    down_for: float,
    cycles: int,
    *,
    at: float = 0.0,
    jitter: float = 0.0,
    seed: int | None = None,
) -> list[Window]:
    """``cycles`` windows of ``down_for`` seconds, one every ``period`` seconds.

    ``jitter`` shifts each window's start by up to ± that many seconds, drawn
    from ``seed``, but never so far that windows overlap or start before ``at``.
    """
    if period <= 0:
        raise ConfigError(f"flap period must be > 0 seconds (got {period})")
    if not 0 < down_for < period:
        raise ConfigError(f"flap down time must be > 0 and < the period {period} (got {down_for})")
    if cycles < 1:
        raise ConfigError(f"flap cycles must be 1 or more (got {cycles})")
    if jitter < 0:
        raise ConfigError(f"flap jitter must be >= 0 seconds (got {jitter})")
    rng = random.Random(seed)
    slack = (period - down_for) / 2
    windows = []
    for i in range(cycles):
        shift = rng.uniform(-jitter, jitter) if jitter else 0.0
        shift = max(-slack, min(slack, shift))
        start = max(at, at + i * period + shift)
        windows.append(Window(start, start + down_for))
    return windows


def timeline(faults: dict[str, list[Window]]) -> list[Action]:
    """Every apply and heal of every fault, in time order."""
    actions = []
    for name, windows in faults.items():
        for w in windows:
            actions.append(Action(w.start, 1, "apply", name))
            actions.append(Action(w.end, 0, "heal", name))
    return sorted(actions)


def total_duration(faults: dict[str, list[Window]]) -> float:
    return max((w.end for ws in faults.values() for w in ws), default=0.0)
