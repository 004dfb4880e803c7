"""Verdicts over observed events. A check returns pass, fail or unknown with a figure; it never raises."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from chaoslib.observe.history import Event, History
from chaoslib.observe.workloads import WorkloadResult

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
_RANK = {PASS: 0, UNKNOWN: 1, FAIL: 2}


@dataclass(frozen=True)
class Verdict:
    name: str
    status: str  # pass | fail | unknown
    measured: float | int | None = None
    threshold: float | int | None = None
    unit: str = ""
    evidence: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def threshold_text(self) -> str:
        """The threshold as people read it; a target with a tolerance (``details["tolerance"]``)
        reads ``0.5 s ± 0.125 s``, so a pass a little above it does not look like a breach."""
        return threshold_text(self.threshold, self.unit, self.details.get("tolerance"))


def threshold_text(threshold: object, unit: str, tolerance: float | None = None) -> str:
    if threshold is None:
        return "–"
    text = f"{threshold:g}" if isinstance(threshold, (int, float)) else str(threshold)
    if tolerance is not None:
        text += f" {unit} ± {tolerance:g}".rstrip()
    return f"{text} {unit}".strip()


def judged(
    ok: bool,
    measured: float | int | None,
    threshold: float | int | None,
    unit: str,
    evidence: str,
    details: dict[str, Any] | None = None,
) -> Verdict:
    """A pass or a fail with its figure; the check's name is filled in by whoever runs it."""
    return Verdict("", PASS if ok else FAIL, measured, threshold, unit, evidence, details or {})


def within(
    took: float, limit: float, evidence: str, details: dict[str, Any] | None = None
) -> Verdict:
    """A duration against its limit, in seconds: pass if it is no longer."""
    took = round(max(0.0, took), 3)
    return judged(took <= limit, took, limit, "s", evidence, details)


def failed(
    evidence: str,
    threshold: float | int | None = None,
    unit: str = "",
    measured: float | int | None = None,
    details: dict[str, Any] | None = None,
) -> Verdict:
    return Verdict("", FAIL, measured, threshold, unit, evidence, details or {})


def unknown(
    reason: str,
    threshold: float | int | None = None,
    unit: str = "",
    measured: float | int | None = None,
) -> Verdict:
    """Nothing to judge on, with the reason: never a pass, never a fail."""
    return Verdict("", UNKNOWN, measured, threshold, unit, reason)


def merge(verdicts: Iterable[Verdict]) -> str:
    """fail outranks unknown, unknown outranks pass; nothing to judge is unknown."""
    statuses = [v.status for v in verdicts]
    if not statuses:
        return UNKNOWN
    return max(statuses, key=_RANK.__getitem__)


def never_raises(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Verdict:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # a broken check is "unknown", with the reason as evidence
            name = kwargs.get("name") or fn.__name__
            return Verdict(
                name, UNKNOWN, evidence=f"the check itself failed: {type(exc).__name__}: {exc}"
            )

    return wrapper


Predicate = Callable[[Event], bool]
_DONE = {"apply": "was applied", "heal": "was healed"}


def moment(events: list[Event], t: float, origin: float | None = None) -> str:
    """A reading of the experiment clock as people read it: the fault action recorded at
    that instant, if any, and seconds since the run started (``origin``) or, without
    it, since the first observation. Raw monotonic readings mean nothing in a report."""
    action = next((e for e in events if e.kind == "fault" and e.t == t), None)
    if origin is not None:
        when = f"{t - origin:.2f}s into the run"
    elif events and t == events[0].t and action is None:
        return "the first observation"
    elif events:
        when = f"{t - events[0].t:.2f}s after the first observation"
    else:
        when = "nothing observed"
    if action is None:
        return when
    return f"{action.source} {_DONE.get(str(action.value), str(action.value))} ({when})"


@never_raises
def eventually(
    history: History,
    pred: Predicate,
    within: float,
    *,
    after: float | None = None,
    name: str = "eventually",
    origin: float | None = None,
) -> Verdict:
    """Pass if a matching event happens within ``within`` seconds after ``after``; measures when.

    Without ``after``, the window starts at the first recorded event. ``origin``: the
    experiment clock when the run started (``RunContext.started``), so that the evidence
    says when in the run the window opened; without it, it counts from the first event.
    """
    events = history.snapshot()
    if after is None:
        after = events[0].t if events else 0.0
    hits = [e for e in events if e.t >= after and pred(e)]
    if not hits:
        return Verdict(
            name,
            FAIL,
            None,
            within,
            "s",
            f"no matching event in the {within:g}s after {moment(events, after, origin)}",
        )
    delay = hits[0].t - after
    status = PASS if delay <= within else FAIL
    return Verdict(
        name,
        status,
        round(delay, 3),
        within,
        "s",
        f"first match: {hits[0].detail or hits[0].value}",
    )


@never_raises
def never(
    history: History, pred: Predicate, during: tuple[float, float], *, name: str = "never"
) -> Verdict:
    """Pass if no matching event happens in the ``during`` window; measures how many did."""
    start, end = during
    hits = [e for e in history.select(since=start, until=end) if pred(e)]
    evidence = "; ".join(str(e.detail or e.value) for e in hits[:3])
    return Verdict(name, FAIL if hits else PASS, len(hits), 0, "events", evidence)


@never_raises
def recovered_within(
    history: History,
    source: str,
    seconds: float,
    *,
    healed_at: float,
    fault_at: float | None = None,
    name: str | None = None,
) -> Verdict:
    """Time to recover: from the heal to the first good sample of ``source``.

    With ``fault_at``, also measures the time to detect: from the fault to the
    first failed sample. A source that never answers again fails, with no figure.
    """
    name = name or f"{source} recovered within {seconds:g}s"
    samples = history.select(source=source)
    details: dict[str, Any] = {}
    if fault_at is not None:
        failed = [e for e in samples if e.t >= fault_at and e.ok is False]
        details["time_to_detect_s"] = round(failed[0].t - fault_at, 3) if failed else None
    good = [e for e in samples if e.t >= healed_at and e.ok]
    if not good:
        last = [e for e in samples if e.t >= healed_at]
        reason = last[-1].detail if last else "no samples at all"
        return Verdict(
            name,
            FAIL,
            None,
            seconds,
            "s",
            f"never answered after the heal (last: {reason})",
            details,
        )
    took = round(good[0].t - healed_at, 3)
    details["time_to_recover_s"] = took
    status = PASS if took <= seconds else FAIL
    detect = details.get("time_to_detect_s")
    evidence = f"recovered {took:g}s after the heal" + (
        f"; detected {detect:g}s after the fault" if detect is not None else ""
    )
    return Verdict(name, status, took, seconds, "s", evidence, details)


@never_raises
def log_seen(
    history: History,
    pattern: str,
    within: float,
    *,
    after: float | None = None,
    source: str | None = None,
    name: str | None = None,
    origin: float | None = None,
) -> Verdict:
    """A log line matching ``pattern`` (a LogObserver pattern key, or a regex) within ``within`` s.

    ``origin``: as for :func:`eventually`."""
    regex = re.compile(pattern)

    def matches(e: Event) -> bool:
        return (
            e.kind == "log"
            and (source is None or e.source == source)
            and (e.value == pattern or bool(regex.search(e.detail)))
        )

    return eventually(
        history,
        matches,
        within,
        after=after,
        name=name or f"log line /{pattern}/ seen",
        origin=origin,
    )


@never_raises
def count(
    history: History,
    pred: Predicate,
    n: int,
    *,
    name: str = "count",
    window: tuple[float, float] | None = None,
) -> Verdict:
    """Pass if exactly ``n`` events match (in ``window``, if given)."""
    events = history.select(since=window[0], until=window[1]) if window else history.snapshot()
    found = sum(1 for e in events if pred(e))
    return Verdict(name, PASS if found == n else FAIL, found, n, "events")


@never_raises
def no_loss(result: WorkloadResult, *, name: str | None = None) -> Verdict:
    """Jepsen's set checker: every acknowledged write read back exactly once.

    Lost: acknowledged but never read. Duplicated: read more than once.
    Reordered: read after a higher sequence number. Writes whose outcome is
    unknown may or may not appear; they are counted, not judged. A write that
    certainly failed must never appear: one that does was applied although the
    client was told it failed (or was misfiled as failed), and that fails too.
    """
    name = name or f"{result.name}: no lost or duplicated messages"
    received = Counter(result.received)
    lost = sorted(set(result.acked) - set(received))
    duplicated = sorted(seq for seq, times in received.items() if times > 1)
    failed_but_read = sorted(set(result.failed) & set(received))
    reordered, highest = 0, 0
    for seq in result.received:
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    window = 0.0
    if result.failure_times:
        window = round(max(result.failure_times) - min(result.failure_times), 3)
    details = {
        "acknowledged": len(result.acked),
        "failed": len(result.failed),
        "unknown": len(result.unknown),
        "received": len(result.received),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "failed_but_read": len(failed_but_read),
        "reordered": reordered,
        "unavailable_s": window,
        "lost_sample": lost[:20],
        "duplicated_sample": duplicated[:20],
        "failed_but_read_sample": failed_but_read[:20],
    }
    if not result.acked:
        return Verdict(name, UNKNOWN, None, 0, "messages", "no write was acknowledged", details)
    wrong = len(lost) + len(duplicated) + len(failed_but_read)
    evidence = (
        f"{len(result.acked)} acknowledged, {len(lost)} lost, {len(duplicated)} duplicated, "
        f"{len(result.unknown)} unknown, {reordered} reordered; unavailable for {window:g}s"
    )
    if failed_but_read:
        evidence += f"; {len(failed_but_read)} reported failed but read back"
    status = FAIL if wrong else PASS
    return Verdict(name, status, wrong, 0, "messages", evidence, details)
