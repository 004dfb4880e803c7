"""The fault tasks' shared flags: their help, and numbers that are finite and in range.

``float()`` takes ``inf``, ``nan`` and ``1e309``; a duration of infinity overflows the
progress bar after the fault is applied, and ``nan`` compares false with everything,
so it ended a hold at once. Every number is checked before anything is applied.
"""

from __future__ import annotations

import math

from chaoslib.cli.output import fail
from chaoslib.errors import ConfigError

DAY = 24 * 3600.0  # the longest hold or wait a task takes: a game day, not a soak
DAY_MS = int(DAY * 1000)

V = "More log output: -v for INFO, -vv for DEBUG (or set CHAOS_LOG_LEVEL)."
DURATION = (
    "How long to hold the fault, in seconds, at most a day (86400); 0 holds it until Ctrl-C "
    "(default 10)."
)
RECOVER = (
    "Fail (exit 1) unless the link answers within this many seconds after the heal "
    "(default 10, at most 86400)."
)
FORCE = "Inject faults even though the profile is marked protected: true (a planned game day)."
PROFILE = (
    "Where the system runs: empty for the embedded stack (invoke stack.up), or a profile "
    "with a compose section (compose) for a running docker-compose project."
)
LINK = (
    "Only these links (repeat the flag, or comma-separate): by default every link whose "
    "upstream is {what}, the shared proxy and each client's own; a bad name lists the accepted ones."
)
CLIENT = "Only this client's links (a client of --profile's links, e.g. orchestrator)."
# Not --force: that already means "a protected profile, on purpose", and a run must be
# able to say one without the other.
OVERLAP = (
    "Hold the fault even if another running chaos task holds one of its links; by default "
    "that is refused (exit 2). Neither heal undoes the other's fault: a link comes back "
    "when the last fault on it heals."
)

# The flags every fault task shares.
FAULT_HELP = {
    "duration": DURATION,
    "recover_within": RECOVER,
    "verbose": V,
    "profile": PROFILE,
    "force": FORCE,
    "client": CLIENT,
    "overlap": OVERLAP,
}
RATE_MAX = 10**9  # KB/s: 1 TB/s, far above any link, and still an int64 in bytes


def number(
    value: object,
    flag: str,
    default: float,
    *,
    minimum: float = 0,
    maximum: float | None = DAY,
    integer: bool = False,
) -> float:
    """``value`` as a number in [minimum, maximum], ``default`` when not given."""
    if value is None or value == "":
        return default
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
