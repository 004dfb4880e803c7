"""Experiments: steady state, then faults on a timeline, then a guaranteed heal, then checks.

Observers run throughout. Every fault is healed in a ``finally``, before any
check looks at the history, whatever ended the timeline: its end, an error,
Ctrl-C, SIGTERM, SIGHUP or :meth:`Experiment.stop`. A window with no end
(:func:`chaoslib.faults.schedule.until_stopped`) holds until the run is stopped: a
Ctrl-C while only such windows are left is that stop, not an interruption.

:class:`FaultRun` is the part that applies and heals: every front end that holds
a fault (the tasks, the suite, the pytest plugin) records through it, so each
apply and heal is a :class:`FaultEvent` on the history's clock.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loguru import logger

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.errors import ChaosError
from chaoslib.experiment.checks import FAIL, UNKNOWN, Verdict, merge
from chaoslib.experiment.journal import FaultEvent, Journal
from chaoslib.faults import schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.signals import Terminated, heal_on_signals, signals_held
from chaoslib.observe.base import Observer
from chaoslib.observe.history import Event, History


@dataclass
class RunContext:
    """What checks see: the history and when each fault was applied and healed."""

    history: History
    faults: list[FaultEvent] = field(default_factory=list)
    started: float = 0.0

    def applied_at(self, fault: str) -> float | None:
        times = [f.t for f in self.faults
                 if f.fault == fault and f.action == "apply" and f.error is None]  # fmt: skip
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


class FaultRun:
    """Named faults applied and healed now, each action recorded as a :class:`FaultEvent`
    (``at``: the clock the observers use) and as a ``fault`` event in the history.

    ``apply(name)`` / ``heal(name)`` return the event; ``heal_all()`` heals whatever is
    still applied, every one even when one heal fails, under one signal hold.
    """

    def __init__(
        self,
        history: History | None = None,
        *,
        clock: Clock = REAL_CLOCK,
        on_action: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.history = history if history is not None else History()
        self.clock = clock
        self.on_action = on_action  # (fault name, "apply" or "heal", when)
        self.faults: dict[str, Fault] = {}
        self.events: list[FaultEvent] = []

    def add(self, name: str, fault: Fault) -> Fault:
        self.faults[name] = fault
        return fault

    def _record(self, name: str, action: str, at: float, error: str | None = None) -> FaultEvent:
        wall = time.time() - (self.clock.now() - at)
        fault = self.faults[name]
        event = FaultEvent(name, action, at, wall, fault.describe(), error)
        self.events.append(event)
        self.history.add(Event(at, name, "fault", error is None, action, fault.describe(), wall))
        if self.on_action is not None and error is None:
            self.on_action(name, action, at)
        return event

    def apply(self, name: str) -> FaultEvent:
        """Apply now; the event's time is when the apply began (its first effect)."""
        began = self.clock.now()
        try:
            self.faults[name].apply()
        except BaseException as exc:  # Fault.apply healed what it had done before raising
            # A signal mid-apply too: the journal must show the fault was tried.
            self._record(name, "apply", began, f"{type(exc).__name__}: {exc}")
            raise
        return self._record(name, "apply", began)

    def heal(self, name: str) -> FaultEvent | None:
        """Heal now (None if it was not applied); the event's time is when the heal began
        (its first effect: an answer after it may come before the heal returns). A failed
        heal is recorded, then raised."""
        fault = self.faults[name]
        if not fault.applied:
            return None
        began = self.clock.now()
        try:
            fault.heal()
        except Exception as exc:
            self._record(name, "heal", began, f"{type(exc).__name__}: {exc}")
            raise
        return self._record(name, "heal", began)

    def heal_all(self) -> list[tuple[str, Exception]]:
        # One hold around all the heals: a signal released between two of them would
        # leave the rest in place. It is raised once every fault is healed.
        failed = []
        with signals_held():
            for name in self.faults:
                try:
                    self.heal(name)
                except Exception as exc:
                    logger.error("could not heal {}: {}", name, exc)
                    failed.append((name, exc))
        return failed

    def applied_at(self, name: str) -> float | None:
        return min((e.t for e in self.events
                    if e.fault == name and e.action == "apply" and e.error is None),
                   default=None)  # fmt: skip

    def healed_at(self, name: str) -> float | None:
        return max((e.t for e in self.events if e.fault == name and e.action == "heal"),
                   default=None)  # fmt: skip


@dataclass
class Step:
    """A fault and the windows in which it holds (offsets from the end of the steady state).
    The windows may be a lazy sequence (:func:`chaoslib.faults.schedule.flap`)."""

    fault: Fault
    windows: Sequence[schedule.Window]


@dataclass
class Experiment:
    name: str
    steps: dict[str, Step] = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list)
    steady_state: list[Check] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    # Judged once the faults are healed and observing ended; a fail there is a deviation.
    steady_state_after: list[Check] = field(default_factory=list)
    history: History = field(default_factory=History)
    steady_for: float = 1.0  # observe this long before judging the steady state
    observe_after: float = 3.0  # keep observing this long after the last heal
    # Observing after the heal ends early once this says so (at most observe_after).
    observe_until: Callable[[RunContext], bool] | None = None
    profile: str = "local"
    timing: str = "fast"
    clock: Clock = REAL_CLOCK
    on_phase: Callable[[str, float], None] | None = None  # (phase, seconds it will take)
    on_fault: Callable[[str, str, float], None] | None = None  # (step, apply/heal, when)
    # After a run: the signal that interrupted it (a task exits 128 + it), and whether
    # it was stopped (stop(), or a Ctrl-C while only open windows were left).
    interrupted_by: int | None = field(default=None, init=False)
    stopped: bool = field(default=False, init=False)
    failure: Exception | None = field(default=None, init=False)  # what aborted the run
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _holding_open: bool = field(default=False, init=False, repr=False)

    def add(self, name: str, fault: Fault, windows: Sequence[schedule.Window]) -> Experiment:
        self.steps[name] = Step(fault, windows)
        return self

    def stop(self) -> None:
        """End the timeline now (from any thread): what is applied heals, then the checks run."""
        self._stop.set()

    def _phase(self, phase: str, seconds: float) -> None:
        logger.info("{}: {} ({:g}s)", self.name, phase, seconds)
        if self.on_phase:
            self.on_phase(phase, seconds)

    def run(self) -> Journal:
        started_wall = time.time()
        origin = self.clock.now()
        faults = FaultRun(self.history, clock=self.clock, on_action=self.on_fault)
        for name, step in self.steps.items():
            faults.add(name, step.fault)
        ctx = RunContext(self.history, faults=faults.events, started=origin)
        status, error, steady, verdicts, after = "passed", None, [], [], []
        timings: dict[str, float] = {}
        self.interrupted_by, self.stopped, self._holding_open = None, False, False
        self.failure = None
        with heal_on_signals():
            try:
                for observer in self.observers:
                    observer.history = self.history
                    observer.start()
                self._phase("steady state", self.steady_for)
                if not self.clock.sleep(self.steady_for, self._stop):
                    raise _StoppedEarly
                steady = [check(ctx) for check in self.steady_state]
                if merge(steady) == "fail":
                    status, error = "aborted", "the steady state did not hold before any fault"
                else:
                    timings["faults_start"] = self.clock.now() - origin
                    self._run_timeline(faults)
            except _StoppedEarly:
                status, error = "interrupted", "stopped before any fault"
            except KeyboardInterrupt as exc:
                # The planned end of a hold until Ctrl-C, unless it landed in an apply,
                # which undid itself: then no fault was held and there is nothing to judge.
                if self._holding_open and not any(
                    e.error for e in faults.events if e.action == "apply"
                ):
                    self.stopped = True
                else:
                    status, error = "interrupted", str(exc) or type(exc).__name__
                    self.interrupted_by = signal.SIGINT
            except Terminated as exc:
                status, error, self.interrupted_by = "interrupted", str(exc), exc.signum
            except Exception as exc:
                status, error, self.failure = "aborted", f"{type(exc).__name__}: {exc}", exc
                if isinstance(exc, ChaosError):  # said plainly: a refusal, a failed apply
                    logger.error("experiment {} aborted: {}", self.name, error)
                else:
                    logger.exception("experiment {} aborted", self.name)
            finally:
                try:
                    unhealed = faults.heal_all()
                    if unhealed and status == "passed":
                        # A fault left in place is never a pass, whatever the checks say.
                        names = ", ".join(f"{name} ({exc})" for name, exc in unhealed)
                        status, error = "aborted", f"could not heal: {names}"
                except KeyboardInterrupt as exc:  # arrived while healing
                    status, error = "interrupted", str(exc) or type(exc).__name__
                    self.interrupted_by = signal.SIGINT
                except Terminated as exc:
                    status, error, self.interrupted_by = "interrupted", str(exc), exc.signum
            try:
                if status == "passed":
                    self._phase("observing recovery", self.observe_after)
                    self._observe(ctx)
            except KeyboardInterrupt as exc:
                status, error = "interrupted", str(exc) or type(exc).__name__
                self.interrupted_by = signal.SIGINT
            except Terminated as exc:
                status, error, self.interrupted_by = "interrupted", str(exc), exc.signum
            finally:
                for observer in self.observers:
                    observer.stop()
        if status == "passed":
            verdicts = [check(ctx) for check in self.checks]
            after = [check(ctx) for check in self.steady_state_after]
            status = judged([*steady, *verdicts, *after])
        timings["total"] = self.clock.now() - origin
        return Journal(
            experiment=self.name,
            profile=self.profile,
            timing=self.timing,
            status=status,
            started_at=started_wall,
            ended_at=time.time(),
            deviated=merge(steady) == "fail" or (bool(after) and merge(after) == "fail"),
            steady_state=tuple(steady),
            faults=tuple(ctx.faults),
            verdicts=tuple(verdicts),
            events=tuple(self.history.snapshot()),
            error=error,
            timings=timings,
            steady_state_after=tuple(after),
            clock_origin=origin,
        )

    def _observe(self, ctx: RunContext) -> None:
        if self.observe_until is None:
            self.clock.sleep(self.observe_after)
            return
        deadline = self.clock.now() + self.observe_after
        while not self.observe_until(ctx) and (left := deadline - self.clock.now()) > 0:
            self.clock.sleep(min(0.05, left))

    def _run_timeline(self, faults: FaultRun) -> None:
        windows = {name: step.windows for name, step in self.steps.items()}
        total = schedule.total_duration(windows)
        self._phase("faults", total)
        start = self.clock.now()
        actions = iter(schedule.timeline(windows))
        action = next(actions, None)
        while action is not None:
            following = next(actions, None)  # one ahead, lazily: a flap's schedule is endless
            if action.at == schedule.OPEN:
                # Only heals of open windows are left: they run when the run is stopped
                # (heal_all). Real time, whatever the clock: only a person or stop() ends it.
                self._holding_open = True
                while not self._stop.wait(1.0):
                    pass
                self.stopped = True
                return
            if not self.clock.sleep(start + action.at - self.clock.now(), self._stop):
                self.stopped = True
                return
            if action.verb == "apply":
                if following is not None and following.at == schedule.OPEN:
                    # Said before the apply: its "holding until Ctrl-C" line may be printed
                    # (and answered with Ctrl-C) before this loop reaches the open window.
                    self._holding_open = True
                faults.apply(action.fault)
            else:
                faults.heal(action.fault)
            action = following


class _StoppedEarly(Exception):
    """stop() came during the steady state: no fault was applied."""
