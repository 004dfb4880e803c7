"""What a service fault cost: unavailability, detection and recovery, from sampled events.

Detection, recovery and what counts as slow are the fault tasks' one rule
(:mod:`chaoslib.cli.measure`): the heal is when chaoslib began to bring the service back,
and the recovery is then said from when it was *back* (its start or resume returned).
A service is *unavailable* from the start of the first sample
that failed or hung (a probe that waited past the threshold) to the end of the first good
answer once it is back: a paused server does not refuse a probe, it holds it, and that
wait is the outage; the held probe's late answer is slow, not the recovery.

What watches a service (:func:`watchers`) and the run's checks on it (:class:`Watch`)
are here too: the task only builds the experiment and says what happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.markup import escape

from chaoslib.cli import measure as rule
from chaoslib.cli.output import console
from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.observe.base import Observer
from chaoslib.observe.history import History
from chaoslib.observe.probes import redis_ping, sql
from chaoslib.observe.processes import ProcessStates
from chaoslib.target import Target
from chaoslib.target.base import STACK_SERVICES
from chaoslib.wait import WaitTimeout, wait_until

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
    recover: float | None  # from back to the first good answer
    worst_wait: float  # the longest a single probe waited, while it was held or coming back


def watchers(
    target: Target, name: str, history: History
) -> tuple[list[Observer], list[tuple[str, str]]]:
    """The observers, and the sources to measure with what each is: a probe through the
    service's link (Redis, PostgreSQL) first, when it has one, then its process state."""
    service = target.service(name)
    states = ProcessStates({name: service}, history, interval=0.05)
    sources = [
        (f"up:{name}", "its process state" if target.kind == "local" else "its container state")
    ]
    kind = next((k for k in STACK_SERVICES if target.services.get(k) is service), None)
    link = next((n for n in target.links_to(kind) if target.probe_url(n)), None) if kind else None
    if link is None:
        return [states], sources
    url, label = target.url(link), f"{link} probe"
    probe = (
        redis_ping(url, history, name=label, interval=0.1, deadline=5.0)
        if url.startswith("redis")
        else sql(url, history, name=label, interval=0.1, deadline=5.0)
    )
    return [probe, states], [(probe.name, f"a probe through link {link}"), *sources]


def samples(history: History, source: str) -> list[rule.Sample]:
    """A probe's answers (timed) or a process's sampled states (an instant each)."""
    return rule.samples(history, source, kinds=("probe", "state"))


def slow_after(history: History, source: str, before: float) -> float:
    """The wait past which a sample of ``source`` counts as hung, from its answers before."""
    steady = [s for s in samples(history, source) if s.end <= before]
    return rule.slow_threshold(rule.baseline(steady) or 0.0, 0.0)


def measure(
    history: History, source: str, cycle: Cycle, slow: float = rule.MIN_SLOW_MARGIN
) -> Measured:
    """Unavailability, detection and recovery of one cycle, from ``source``'s samples."""
    found = samples(history, source)
    t = rule.timing(found, cycle.applied_at, cycle.heal_at, slow)
    held = [s for s in found if s.end >= cycle.applied_at and s.start <= cycle.back_at]
    worst = max((s.latency for s in held), default=0.0)
    if t.recovered_at is None:
        return Measured(None, t.detected_at, None, worst)
    answered = cycle.heal_at + t.recovered_at
    # Said from when it was back: the time its start (or resume) took is chaoslib's, not
    # the system's. An answer while the start was still returning is a recovery at once.
    recover = round(max(0.0, answered - cycle.back_at), 3)
    bad = [s.start for s in held if rule.shows_fault(s, slow)]
    if t.detected_at is None or not bad:
        return Measured(0.0, t.detected_at, recover, worst)
    since = max(cycle.applied_at, min(bad))
    return Measured(round(answered - since, 3), t.detected_at, recover, worst)


def report(
    history: History, name: str, sources: list[tuple[str, str]], cycle: Cycle,
    slows: dict[str, float], within: float,
) -> bool:  # fmt: skip
    """Print what each source measured; the first one's recovery is the verdict."""
    ok = True
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


class Watch:
    """The run's checks, on the cycles the task saw (each filled in as its heal returns):
    the steady state before (the baseline), the recovery, each source's outage, and the
    steady state after. The first source (the probe, when there is one) is the verdict's."""

    def __init__(
        self, history: History, name: str, sources: list[tuple[str, str]], within: float,
        cycles: list[Cycle], wait: float = 10.0,
    ) -> None:  # fmt: skip
        self.history, self.name, self.sources, self.within = history, name, sources, within
        self.cycles, self.wait = cycles, wait
        self._slows: dict[str, float] | None = None

    @property
    def slows(self) -> dict[str, float]:
        """Each source's hung threshold, from its answers before the first action."""
        if self._slows is None:
            before = self.cycles[0].applied_at
            self._slows = {src: slow_after(self.history, src, before) for src, _ in self.sources}
        return self._slows

    def _answered(self) -> list[rule.Sample]:
        return [s for s in samples(self.history, self.sources[0][0]) if s.ok]

    def steady_before(self, ctx: object) -> Verdict:
        """Proof the probe works, and what a healthy answer takes: waited for, not assumed,
        since a first connection may take a while. No answer: nothing is done."""
        source, what = self.sources[0]
        check = f"steady state before the fault: {self.name} answers"
        try:
            wait_until(lambda: len(self._answered()) >= STEADY_SAMPLES, timeout=self.wait,
                       what=f"{self.name} to answer")  # fmt: skip
        except WaitTimeout:
            return Verdict(check, FAIL, len(self._answered()), STEADY_SAMPLES, "answers",
                           f"{self.name} did not answer {what} within {self.wait:g}s")  # fmt: skip
        slowest = max(s.latency for s in self._answered())
        return Verdict(check, PASS, round(slowest, 4), None, "s",
                       f"{STEADY_SAMPLES} answers from {what}, the slowest in "
                       f"{rule.ms(slowest)}")  # fmt: skip

    def measured(self, source: str) -> list[Measured]:
        return [measure(self.history, source, c, self.slows[source]) for c in self.cycles]

    def recovered(self, ctx: object) -> bool:
        """Observing may end: every source recovered from the last cycle, and the first
        answered twice since (the steady state after)."""
        if not self.cycles:
            return True
        if any(self.measured(src)[-1].recover is None for src, _ in self.sources):
            return False
        return len(self._after()) >= 2

    def _after(self) -> list[rule.Sample]:
        source = self.sources[0][0]
        last = self.cycles[-1]
        m = measure(self.history, source, last, self.slows[source])
        if m.recover is None:
            return []
        since = last.back_at + m.recover
        return [s for s in samples(self.history, source) if s.start >= since]

    def recovery(self, ctx: object) -> Verdict:
        """The verdict: it answered within ``within`` of being back, after every cycle."""
        source, what = self.sources[0]
        check = f"{self.name} recovered within {self.within:g}s"
        if not self.cycles:
            return Verdict(check, UNKNOWN, evidence="the fault was never applied")
        found = self.measured(source)
        times = [m.recover for m in found]
        details = {"time_to_recover_s": times, "time_to_detect_s": [m.detect for m in found]}
        if None in times:
            return Verdict(check, FAIL, None, self.within, "s", f"did not answer within "
                           f"{self.within:g}s after it was back ({what})", details)  # fmt: skip
        worst = max(t for t in times if t is not None)
        of = f", the slowest of {len(times)} cycles" if len(times) > 1 else ""
        return Verdict(check, PASS if worst <= self.within else FAIL, worst, self.within, "s",
                       f"answered {worst:.3f}s after it was back{of} ({what})", details)  # fmt: skip

    def outages(self) -> list[Callable[[object], Verdict]]:
        """One check per source: the outage it saw (unknown if none of its samples did)."""
        return [
            lambda ctx, src=src, what=what: self._outage(src, what) for src, what in self.sources
        ]

    def _outage(self, source: str, what: str) -> Verdict:
        check = f"{self.name} was unavailable by {what}"
        found = self.measured(source)
        seen = [m for m in found if m.detect is not None]
        if not seen:
            return Verdict(check, UNKNOWN, evidence=f"no failed or hung sample of {what}")
        lasted = [m.unavailable for m in seen]
        worst = None if None in lasted else max(t for t in lasted if t is not None)
        text = "the rest of the run" if worst is None else f"{worst:.3f}s"
        of = f" (the longest of {len(found)} cycles)" if len(found) > 1 else ""
        return Verdict(check, PASS, worst, None, "s",
                       f"unavailable for {text}{of}, first failed or hung "
                       f"{seen[0].detect:.3f}s after the action",
                       {"unavailable_s": [m.unavailable for m in found],
                        "detect_s": [m.detect for m in found]})  # fmt: skip

    def steady_after(self, ctx: object) -> Verdict:
        if not self.cycles or not self._after():
            return Verdict(f"steady state after it was back: {self.name} answers", UNKNOWN,
                           evidence="it never answered again, so there is no after")  # fmt: skip
        return rule.steady_verdict(self._after(), self.name, "after it was back")

    def report(self, cycle: Cycle) -> bool:
        """Print what each source measured of ``cycle``; True if it recovered in time."""
        return report(self.history, self.name, self.sources, cycle, self.slows, self.within)
