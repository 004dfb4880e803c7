"""What a service fault cost: unavailability, detection and recovery, from sampled events.

A service is *unavailable* from the start of the first sample that failed or hung (a
probe that waited past its threshold) to the first answer once it is back: a paused
server does not refuse a probe, it holds it, and that wait is the outage.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape

from chaoslib.cli.output import console
from chaoslib.observe.history import Event, History

# A probe is slow (hung) past five times the slowest answer before the action, and at
# least MIN_SLOW: a probe through a healthy local link answers in milliseconds.
MIN_SLOW = 0.1
STEADY_SAMPLES = 3


@dataclass(frozen=True)
class Cycle:
    """One action, on the probe's clock: applied, in place, heal begun, back."""

    applied_at: float
    in_place_at: float
    heal_at: float
    back_at: float


@dataclass(frozen=True)
class Measured:
    unavailable: float | None  # None: it never answered again
    detect: float | None  # from the action to the first failed or hung probe; None: none was
    recover: float | None  # from back to the first answer
    worst_wait: float  # the longest a single probe waited, while it was held or coming back


def _started(e: Event) -> float:
    return e.t - float(e.value or 0) if isinstance(e.value, int | float) else e.t


def slow_after(history: History, source: str, before: float) -> float:
    """The wait past which a probe of ``source`` counts as hung, from its answers before."""
    waits = [float(e.value) for e in history.select(source=source, until=before)
             if e.ok and isinstance(e.value, int | float)]  # fmt: skip
    return max(MIN_SLOW, 5 * max(waits, default=0.0))


def measure(history: History, source: str, cycle: Cycle, slow: float = MIN_SLOW) -> Measured:
    """Unavailability, detection and recovery of one cycle, from ``source``'s samples."""
    samples = history.select(source=source)
    timed = bool(samples) and isinstance(samples[0].value, int | float)

    def bad(e: Event) -> bool:
        return e.ok is False or (timed and float(e.value) > slow)

    held = [e for e in samples if e.t >= cycle.applied_at and _started(e) <= cycle.back_at]
    worst = max((float(e.value) for e in held if timed), default=0.0)
    failing = [e for e in held if bad(e)]
    answer = next((e for e in samples if e.t >= cycle.heal_at and e.ok is True), None)
    detect = None
    if failing:
        first = failing[0]
        waited = float(first.value) if timed else 0.0
        # A refusal is known when it returns; a hang once it has waited ``slow``.
        known = _started(first) + min(waited, slow) if timed else first.t
        detect = max(0.0, known - cycle.applied_at)
    if answer is None:
        return Measured(None, detect, None, worst)
    recover = max(0.0, answer.t - cycle.back_at)
    if not failing:
        return Measured(0.0, None, recover, worst)
    since = max(cycle.applied_at, _started(failing[0]))
    return Measured(max(0.0, answer.t - since), detect, recover, worst)


def report(
    history: History, name: str, sources: list[tuple[str, str]], cycle: Cycle,
    slows: dict[str, float], within: float,
) -> bool:  # fmt: skip
    """Print what each source measured; the first one's recovery is the verdict."""
    for i, (source, what) in enumerate(sources):
        m = measure(history, source, cycle, slows[source])
        if m.detect is None and m.unavailable is not None:
            console.print(f"  {escape(name)}: no failed or hung sample of {escape(what)}")
        elif m.detect is not None:
            console.print(
                f"  {escape(name)} was unavailable for "
                + (f"{m.unavailable:.3f}s" if m.unavailable is not None else "the rest of the run")
                + f" by {escape(what)} (first failed or hung {m.detect:.3f}s after the action"
                + (
                    f", longest probe wait {m.worst_wait:.3f}s"
                    if m.worst_wait > slows[source]
                    else ""
                )
                + ")"
            )
        if i:
            continue
        if m.recover is None:
            console.print(f"[red]❌ FAIL[/] {escape(name)} did not answer within {within:g}s "
                          f"after it was back ({escape(what)})")  # fmt: skip
            ok = False
        else:
            ok = m.recover <= within
            mark = "[green]✅ PASS[/]" if ok else "[red]❌ FAIL[/]"
            console.print(f"{mark} {escape(name)} recovered within {within:g}s: answered "
                          f"{m.recover:.3f}s after it was back ({escape(what)})")  # fmt: skip
    return ok
