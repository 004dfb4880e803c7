"""What a fault task measures: the probe's steady state, time to detect, time to recover.

A probe sample counts from its start (its end less its latency), so a probe that
a fault blocked counts as failed or slow for as long as it was blocked, and one
in flight at the heal counts too: a blocked probe that answers just after the heal
is a slow answer, not a recovery.

- **slow**: an answer slower than a threshold derived from the fault, the steady
  state's slowest answer plus half the delay the fault adds to one answer (at least
  100 ms more, for a fault that adds none).
- **time to detect**: from the apply to the first moment a probe showed the fault:
  a failed answer's end, or the moment a slow one's wait passed the threshold.
- **time to recover**: from the heal to the end of the first answer that is good
  (it succeeded, and within the threshold).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.observe.history import History

MIN_SLOW_MARGIN = 0.1  # seconds above the steady state's slowest answer that count as slow


@dataclass(frozen=True)
class Sample:
    start: float
    end: float
    ok: bool
    detail: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start


def samples(history: History, source: str, kinds: tuple[str, ...] = ("probe",)) -> list[Sample]:
    """``source``'s samples of these kinds, each from its start to its end. A sample with
    no latency (a process's sampled state) is an instant."""
    found = []
    for e in (e for e in history.select(source=source) if e.kind in kinds):
        latency = float(e.value) if isinstance(e.value, int | float) else 0.0
        found.append(Sample(e.t - latency, e.t, e.ok is True, e.detail))
    return sorted(found, key=lambda s: s.start)


def baseline(steady: Sequence[Sample]) -> float | None:
    """The steady state's slowest good answer (None: no good answer before the fault)."""
    good = [s.latency for s in steady if s.ok]
    return max(good) if good else None


def slow_threshold(base: float, added: float) -> float:
    return base + max(added / 2, MIN_SLOW_MARGIN)


def shows_fault(s: Sample, threshold: float) -> bool:
    """A sample that failed, or waited past the threshold."""
    return not s.ok or s.latency > threshold


@dataclass(frozen=True)
class Timing:
    """What the probe showed about one fault, every time on the probe's clock."""

    threshold: float
    detected_at: float | None  # seconds after the apply; None: the probe never showed it
    detected_by: str
    recovered_at: float | None  # seconds after the heal; None: no good answer came
    recovered_by: str
    during: tuple[Sample, ...]  # the answers that began while the fault held


def timing(
    all_samples: Sequence[Sample], applied_at: float, healed_at: float, threshold: float
) -> Timing:
    detected: tuple[float, Sample] | None = None
    during = tuple(s for s in all_samples if s.end >= applied_at and s.start <= healed_at)
    for s in during:
        if not shows_fault(s, threshold):
            continue
        slow = s.latency > threshold
        # A failure known before the threshold passed is known at its end; a slow or
        # blocked one as soon as it had waited past the threshold.
        moment = max(applied_at, s.start + threshold if slow else s.end)
        if detected is None or moment < detected[0]:
            detected = (moment, s)
    detected_by = "no probe failed or was slow while it held"
    if detected is not None:
        s = detected[1]
        detected_by = (
            f"a probe slower than {ms(threshold)} (it took {ms(s.latency)}"
            + ("" if s.ok else f" and failed: {s.detail}")
            + ")"
            if s.latency > threshold
            else f"a failed probe ({s.detail or 'failed'})"
        )
    recovered = next(
        (s for s in all_samples if s.end >= healed_at and s.ok and s.latency <= threshold), None
    )
    late = [s for s in all_samples if s.end >= healed_at and s.start < healed_at]
    recovered_by = "no probe answered within the threshold after the heal"
    if recovered is not None:
        recovered_by = f"the first probe answering within {ms(threshold)} after the heal"
        if late and late[0] is not recovered:
            how = "was slow" if late[0].ok else "failed"
            recovered_by += f"; a probe in flight at the heal {how} after {ms(late[0].latency)}"
    return Timing(
        threshold,
        None if detected is None else round(detected[0] - applied_at, 3),
        detected_by,
        None if recovered is None else round(recovered.end - healed_at, 3),
        recovered_by,
        during,
    )


def steady_verdict(steady: Sequence[Sample], link: str, when: str) -> Verdict:
    """The probe answered (every sample good) in the given stretch."""
    name = f"steady state {when}: {link} answers"
    if not steady:
        return Verdict(name, UNKNOWN, evidence=f"no probe through {link} finished {when}")
    bad = [s for s in steady if not s.ok]
    slowest = max(s.latency for s in steady)
    if bad:
        return Verdict(name, FAIL, len(bad), 0, "failed probes",
                       f"{len(bad)} of {len(steady)} probes failed {when} "
                       f"(last: {bad[-1].detail})")  # fmt: skip
    return Verdict(name, PASS, round(slowest, 4), None, "s",
                   f"{len(steady)} probes answered, the slowest in {ms(slowest)}")  # fmt: skip


def recovery_verdict(t: Timing, link: str, within: float) -> Verdict:
    name = f"{link} recovered within {within:g}s"
    details = {"time_to_detect_s": t.detected_at, "time_to_recover_s": t.recovered_at,
               "slow_threshold_s": round(t.threshold, 4)}  # fmt: skip
    if t.recovered_at is None:
        return Verdict(name, FAIL, None, within, "s", f"never answered after the heal "
                       f"within {ms(t.threshold)}", details)  # fmt: skip
    status = PASS if t.recovered_at <= within else FAIL
    evidence = f"recovered {t.recovered_at:g}s after the heal" + (
        f"; detected {t.detected_at:g}s after the fault" if t.detected_at is not None else ""
    )
    return Verdict(name, status, t.recovered_at, within, "s", evidence, details)


def latency_line(during: Sequence[Sample], what: str) -> str | None:
    good = [s.latency for s in during if s.ok]
    if not good:
        return None
    return (
        f"{what}: median {ms(statistics.median(good))} over {len(good)} answers "
        f"(slowest {ms(max(good))})"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
