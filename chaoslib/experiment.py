"""Experiments: steady state, then faults on a timeline, then a guaranteed heal, then checks.

Observers run throughout. Every fault is healed in a ``finally``, before any
check looks at the history, whatever ended the timeline: its end, an error,
Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loguru import logger

from chaoslib import schedule
from chaoslib.checks import FAIL, UNKNOWN, Verdict, merge
from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.faults.base import Fault
from chaoslib.faults.signals import Terminated, heal_on_signals, signals_held
from chaoslib.journal import FaultEvent, Journal
from chaoslib.observe.base import Observer
from chaoslib.observe.history import Event, History


@dataclass
class RunContext:
    """What checks see: the history and when each fault was applied and healed."""

    history: History
    faults: list[FaultEvent] = field(default_factory=list)
    started: float = 0.0

    def applied_at(self, fault: str) -> float | None:
        times = [f.t for f in self.faults if f.fault == fault and f.action == "apply"]
        return min(times) if times else None

    def healed_at(self, fault: str) -> float | None:
        times = [f.t for f in self.faults if f.fault == fault and f.action == "heal"]
        return max(times) if times else None

    @property
    def last_heal(self) -> float:
        return max((f.t for f in self.faults if f.action == "heal"), default=0.0)


Check = Callable[[RunContext], Verdict]


def judged(verdicts: Sequence[Verdict]) -> str:
    """The status of a run that reached its checks: any fail is ``failed``; otherwise an
    unknown (a fact the check needs is missing) is ``inconclusive``, never a guessed pass or
    fail. The steady state's verdicts count too: an unjudged start leaves the run unjudged."""
    verdict = merge(verdicts) if verdicts else "pass"  # no checks at all: nothing went wrong
    return {FAIL: "failed", UNKNOWN: "inconclusive"}.get(verdict, "passed")


@dataclass
class Step:
    """A fault and the windows in which it holds (offsets from the end of the steady state)."""

    fault: Fault
    windows: list[schedule.Window]


@dataclass
class Experiment:
    name: str
    steps: dict[str, Step] = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list)
    steady_state: list[Check] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    history: History = field(default_factory=History)
    steady_for: float = 1.0  # observe this long before judging the steady state
    observe_after: float = 3.0  # keep observing this long after the last heal
    profile: str = "local"
    timing: str = "fast"
    clock: Clock = REAL_CLOCK
    on_phase: Callable[[str, float], None] | None = None  # (phase, seconds it will take)

    def add(self, name: str, fault: Fault, windows: list[schedule.Window]) -> Experiment:
        self.steps[name] = Step(fault, windows)
        return self

    def _phase(self, phase: str, seconds: float) -> None:
        logger.info("{}: {} ({:g}s)", self.name, phase, seconds)
        if self.on_phase:
            self.on_phase(phase, seconds)

    def run(self) -> Journal:
        started_wall = time.time()
        origin = self.clock.now()
        ctx = RunContext(self.history, started=origin)
        status, error, steady, verdicts = "passed", None, [], []
        timings: dict[str, float] = {}
        with heal_on_signals():
            try:
                for observer in self.observers:
                    observer.history = self.history
                    observer.start()
                self._phase("steady state", self.steady_for)
                self.clock.sleep(self.steady_for)
                steady = [check(ctx) for check in self.steady_state]
                if merge(steady) == "fail":
                    status, error = "aborted", "the steady state did not hold before any fault"
                else:
                    timings["faults_start"] = self.clock.now() - origin
                    self._run_timeline(ctx)
            except (KeyboardInterrupt, Terminated) as exc:
                status, error = "interrupted", str(exc) or type(exc).__name__
            except Exception as exc:
                status, error = "aborted", f"{type(exc).__name__}: {exc}"
                logger.exception("experiment {} aborted", self.name)
            finally:
                try:
                    self._heal_all(ctx)
                except (KeyboardInterrupt, Terminated) as exc:  # arrived while healing
                    status, error = "interrupted", str(exc) or type(exc).__name__
            try:
                if status in ("passed",):
                    self._phase("observing recovery", self.observe_after)
                    self.clock.sleep(self.observe_after)
            except (KeyboardInterrupt, Terminated) as exc:
                status, error = "interrupted", str(exc) or type(exc).__name__
            finally:
                for observer in self.observers:
                    observer.stop()
        if status == "passed":
            verdicts = [check(ctx) for check in self.checks]
            status = judged([*steady, *verdicts])
        timings["total"] = self.clock.now() - origin
        return Journal(
            experiment=self.name,
            profile=self.profile,
            timing=self.timing,
            status=status,
            started_at=started_wall,
            ended_at=time.time(),
            deviated=merge(steady) == "fail",
            steady_state=tuple(steady),
            faults=tuple(ctx.faults),
            verdicts=tuple(verdicts),
            events=tuple(self.history.snapshot()),
            error=error,
            timings=timings,
        )

    def _record(
        self,
        ctx: RunContext,
        name: str,
        action: str,
        error: str | None = None,
        at: float | None = None,
    ) -> None:
        """``at``: when the action began (an apply counts from its first effect); default now."""
        now = self.clock.now()
        at = now if at is None else at
        wall = time.time() - (now - at)
        fault = self.steps[name].fault
        ctx.faults.append(FaultEvent(name, action, at, wall, fault.describe(), error))
        self.history.add(Event(at, name, "fault", error is None, action, fault.describe(), wall))

    def _run_timeline(self, ctx: RunContext) -> None:
        plan = schedule.timeline({name: step.windows for name, step in self.steps.items()})
        start = self.clock.now()
        total = schedule.total_duration({name: step.windows for name, step in self.steps.items()})
        self._phase("faults", total)
        for action in plan:
            self.clock.sleep(start + action.at - self.clock.now())
            fault = self.steps[action.fault].fault
            began = self.clock.now()
            if action.verb == "apply":
                fault.apply()
                self._record(ctx, action.fault, "apply", at=began)
            else:
                fault.heal()
                self._record(ctx, action.fault, "heal")

    def _heal_all(self, ctx: RunContext) -> None:
        # One hold around all the heals: a signal released between two of them would
        # leave the rest in place. It is raised once every fault is healed.
        with signals_held():
            for name, step in self.steps.items():
                if step.fault.applied:
                    try:
                        step.fault.heal()
                        self._record(ctx, name, "heal")
                    except Exception as exc:
                        logger.error("could not heal {}: {}", name, exc)
                        self._record(ctx, name, "heal", f"{type(exc).__name__}: {exc}")
