"""The fault tasks' shared flags: their help, and numbers that are finite and in range.

``float()`` takes ``inf``, ``nan`` and ``1e309``; a duration of infinity overflows the
progress bar after the fault is applied, and ``nan`` compares false with everything,
so it ended a hold at once. Every number is checked before anything is applied, and
every duration goes through :func:`chaoslib.durations.parse_duration`, so ``2s`` means
the same in a flag as in an experiment file.
"""

from __future__ import annotations

import math

from chaoslib.cli.output import fail
from chaoslib.durations import parse_duration
from chaoslib.errors import ConfigError

DAY = 24 * 3600.0  # the longest hold or wait a task takes: a game day, not a soak
DAY_MS = int(DAY * 1000)

V = "More log output: -v for INFO, -vv for DEBUG (or set CHAOS_LOG_LEVEL)."
DURATION = (
    "How long to hold the fault: 500ms, 30s, 2m, 1h or bare seconds, at most 24h; 0 holds "
    "it until Ctrl-C (default 10s)."
)
RECOVER = (
    "Fail (exit 1) unless the link answers within this long after the heal: 500ms, 30s, "
    "2m or bare seconds (default 10s, at most 24h)."
)
FORCE = "Inject faults even though the profile is marked protected: true (a planned game day)."
# In a task that also has --overlap: the two are never one another's override.
FORCE_NOT_OVERLAP = (
    f"{FORCE} It does not let the fault share what another running chaos task holds: "
    "that is --overlap."
)
PROFILE = (
    "Where the system runs: empty for the embedded stack (invoke stack.up), or a profile "
    "with a compose section (compose) for a running docker-compose project."
)
LINK = (
    "Only these links (repeat the flag, or comma-separate): by default every link whose "
    "upstream is {what}, the shared proxy and each client's own; a bad name lists the accepted ones."
)
REPORT_DIR = (
    "Where to write journal.json (default: $CHAOS_REPORT_DIR, else the chaos home's "
    "reports/, in <time>-<task>/)."
)
CLIENT = "Only this client's links (a client of --profile's links, e.g. orchestrator)."
# Not --force: that already means "a protected profile, on purpose", and a run must be
# able to say one without the other.
OVERLAP = (
    "Hold the fault even if another running chaos task holds one of its links; by default "
    "that is refused (exit 2), naming the holder, and --force does not change that. Neither "
    "heal undoes the other's fault: a link comes back when the last fault on it heals."
)

# The flags every fault task shares.
FAULT_HELP = {
    "duration": DURATION,
    "recover_within": RECOVER,
    "verbose": V,
    "profile": PROFILE,
    "force": FORCE_NOT_OVERLAP,
    "client": CLIENT,
    "overlap": OVERLAP,
}
RATE_MAX = 10**9  # KB/s: 1 TB/s, far above any link, and still an int64 in bytes
# Flags that are durations in seconds whatever task has them: number() hands them to
# duration(), so a task not yet switched to duration() already takes units.
DURATION_FLAGS = frozenset({"duration", "recover-within", "period", "down", "interval"})


def duration(
    value: object, flag: str, default: float, maximum: float | None = DAY, minimum: float = 0
) -> float:
    """``--flag`` in seconds (``500ms``, ``30s``, ``2m``, ``1h`` or bare seconds), in range.

    ``default`` when the flag was not given; nan, inf, negatives and a bad unit exit 2
    with what is accepted.
    """
    if value is None or value == "":
        return default
    try:
        return parse_duration(value, f"--{flag}", minimum=minimum, maximum=maximum)
    except ConfigError as exc:
        raise fail(exc, 2) from None


def milliseconds(value: object, flag: str, default: int, maximum: int = DAY_MS) -> int:
    """A delay flag counted in ms (``--latency 700``) that also takes units (``1s``, ``250ms``)."""
    if value is None or value == "":
        return default
    try:
        seconds = parse_duration(value, f"--{flag}", maximum=maximum / 1000, default_unit="ms")
    except ConfigError as exc:
        raise fail(exc, 2) from None
    return round(seconds * 1000)


def required(value: object, flag: str, accepted: str) -> object:
    """The one way a required flag fails: ``--flag is required: <accepted>``, exit 2."""
    if value is None or value == "" or value == []:
        raise fail(ConfigError(f"--{flag} is required: {accepted}"), 2)
    return value


def number(
    value: object,
    flag: str,
    default: float,
    *,
    minimum: float = 0,
    maximum: float | None = DAY,
    integer: bool = False,
) -> float:
    """``value`` as a number in [minimum, maximum], ``default`` when not given.

    A duration flag (:data:`DURATION_FLAGS`) is parsed as a duration, units and all.
    """
    if value is None or value == "":
        return default
    if flag in DURATION_FLAGS and not integer:
        return duration(value, flag, default, maximum=maximum, minimum=minimum)
    kind = "a whole number" if integer else "a number"
    accepted = f"{kind} >= {_text(minimum)}" + (
        f" and <= {_text(maximum)}" if maximum is not None else ""
    )
    try:
        parsed = int(value) if integer else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise fail(ConfigError(f"--{flag}={value!r} is not {kind}; use {accepted}"), 2) from None
    if not math.isfinite(parsed):
        raise fail(ConfigError(f"--{flag}={value!r} is not a finite number; use {accepted}"), 2)
    if parsed < minimum:
        raise fail(ConfigError(f"--{flag}={value!r} is too small; use {accepted}"), 2)
    if maximum is not None and parsed > maximum:
        raise fail(ConfigError(f"--{flag}={value!r} is too large; use {accepted}"), 2)
    return parsed


def _text(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"
