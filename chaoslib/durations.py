"""Durations as people write them: ``500ms``, ``30s``, ``2m``, ``1h`` or a bare number of seconds.

One parser for every boundary (task flags, experiment files, profiles), so ``2s`` means
the same everywhere. ``float()`` alone takes ``inf``, ``nan`` and ``1e309``; none of
them is a duration, and each is refused with what is accepted.
"""

from __future__ import annotations

import math
import re

from chaoslib.errors import ConfigError

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
ACCEPTED = "a number of seconds, or a number with a unit: 500ms, 30s, 2m, 1h"
_DURATION = re.compile(r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|m|h)?\s*")


def parse_duration(
    value: object,
    what: str,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    default_unit: str = "s",
) -> float:
    """``value`` in seconds; ``what`` names it in the message (e.g. ``--duration``).

    A bare number is in ``default_unit`` (seconds unless the field says otherwise).
    """
    if isinstance(value, bool):
        raise ConfigError(f"{what}={value!r} is not a duration; use {ACCEPTED}")
    if isinstance(value, int | float):
        number, unit = float(value), default_unit
        if not math.isfinite(number):
            raise ConfigError(f"{what}={value!r} is not a finite duration; use {ACCEPTED}")
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ConfigError(f"{what}={value!r} is not a duration; use {ACCEPTED}")
        number, unit = float(match.group(1)), match.group(2) or default_unit
    else:
        raise ConfigError(f"{what}={value!r} is not a duration; use {ACCEPTED}")
    seconds = number * UNITS[unit]
    if not math.isfinite(seconds):
        raise ConfigError(f"{what}={value!r} is not a finite duration; use {ACCEPTED}")
    bounds = f"at least {format_duration(minimum)}" + (
        f" and at most {format_duration(maximum)}" if maximum is not None else ""
    )
    if seconds < minimum:
        raise ConfigError(f"{what}={value!r} is too short; use {bounds} ({ACCEPTED})")
    if maximum is not None and seconds > maximum:
        raise ConfigError(f"{what}={value!r} is too long; use {bounds} ({ACCEPTED})")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: ``0.5`` → ``500ms``, ``120`` → ``2m``, ``86400`` → ``24h``."""
    for unit in ("h", "m", "s"):
        scaled = seconds / UNITS[unit]
        if scaled >= 1 and float(scaled).is_integer():
            return f"{int(scaled)}{unit}"
    if seconds >= 1 or seconds == 0:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"
