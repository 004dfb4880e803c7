"""``chaos stop|kill|pause|restart --service NAME``: a service of the running stack, measured.

The task is an :class:`~chaoslib.experiment.runner.Experiment`, as every fault task is: one step,
the service fault, on its windows (once for ``--duration``, until Ctrl-C for 0, or every
``--interval`` as Pumba repeats it, each window made when it comes), watched by a probe
through the service's link for Redis and PostgreSQL, else by its process's (or
container's) state. Its steady state is the probe's baseline, its checks each cycle's
recovery and outage; the run leaves a journal like the suite's.

What is measured, and how: :mod:`chaoslib.cli.service_measure`.
"""

from __future__ import annotations

import math
import signal as signals
import sys
from collections.abc import Sequence

from invoke import task
from invoke.exceptions import Exit
from rich.markup import escape

from chaoslib.cli import flags
from chaoslib.cli.flags import FORCE_NOT_OVERLAP, PROFILE, REPORT_DIR, V
from chaoslib.cli.hold_output import MARKS, HoldProgress, write_journal
from chaoslib.cli.output import console, fail, failed, setup
from chaoslib.cli.service_measure import Cycle, Watch, watchers
from chaoslib.clock import REAL_CLOCK
from chaoslib.durations import format_duration
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.experiment.checks import PASS
from chaoslib.experiment.journal import Journal
from chaoslib.experiment.runner import Experiment
from chaoslib.faults import schedule
from chaoslib.faults.ledger import LedgerEntry
from chaoslib.faults.service import ServiceFault, signal_named
from chaoslib.faults.signals import heal_on_signals
from chaoslib.target import Target, open_target

# What each task does, and what brings the service back (for the messages).
VERBS = {"stop": ("Stopped", "started"), "kill": ("Killed", "started"),
         "pause": ("Paused", "resumed"), "restart": ("Stopped", "started")}  # fmt: skip
HELD = {"stop": "stopped", "kill": "down", "pause": "paused", "restart": "down"}  # while it holds


class _Told(ServiceFault):
    """The service fault, noting the pid it acted on (a kill's heal starts a new one) and
    its times: a signal may cut the apply short, Fault.apply then heals it itself and the
    runner records neither, yet the service was touched and brought back: a cycle."""

    acted_on: int | None = None
    began: float | None = None
    heal_began: float | None = None
    cut_short: Cycle | None = None

    def apply(self) -> ServiceFault:
        self.began = self.heal_began = None
        try:
            return super().apply()  # type: ignore[return-value]
        except BaseException:
            if self.heal_began is not None:  # it healed (a cut before _apply: at once)
                began = self.heal_began if self.began is None else self.began
                self.cut_short = Cycle(began, began, self.heal_began, REAL_CLOCK.now())
            raise

    def _apply(self) -> None:
        self.acted_on, self.began = self.service.pid, REAL_CLOCK.now()
        super()._apply()

    def _heal(self) -> None:
        self.heal_began = REAL_CLOCK.now()
        super()._heal()


def _refuse_overlap(target: Target, name: str) -> None:
    """Another live run holds a fault on this service: its heal would undo this one's."""
    if target.ledger is None:
        return
    import psutil

    def live(e: LedgerEntry) -> bool:
        try:
            proc = psutil.Process(e.pid)
            return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= e.applied_at + 1
        except psutil.Error:
            return False

    for entry in target.ledger.scan()[0]:
        if entry.kind == "service" and entry.target.get("service") == name and live(entry):
            raise ConfigError(
                f"service {name!r} already has a fault held by pid {entry.pid} "
                f"({entry.description}); wait until it heals, or pass --overlap"
            )


def _windows(action: str, seconds: float, every: float, count: int | None) -> Sequence:
    """Once for ``seconds`` (0: until Ctrl-C; a restart's 0 is down and up at once), or a
    window every ``every`` seconds, made as it comes: no --cycles repeats until Ctrl-C."""
    if not every:
        if seconds == 0 and action != "restart":
            return schedule.until_stopped()
        return schedule.once(0, seconds)
    if seconds == 0 and action != "restart":
        raise ConfigError("--duration=0 holds until Ctrl-C, so it cannot repeat: with "
                          "--interval give a --duration shorter than it")  # fmt: skip
    cycles = count or sys.maxsize
    if seconds == 0:  # a restart down for no time: schedule.flap wants a down time
        return schedule.FlapWindows(every, 0.0, cycles, 0.0, 0.0, 0)
    return schedule.flap(period=every, down_for=seconds, cycles=cycles)


class _Cycles:
    """Each cycle on the runner's clock, from its fault events, and what the task says as
    they happen: the action, the hold, the service back, the previous cycle measured."""

    def __init__(self, exp: Experiment, fault: _Told, action: str, watch: Watch,
                 seconds: float, progress: HoldProgress,
                 endless: HoldProgress | None) -> None:  # fmt: skip
        self.exp, self.fault, self.action, self.watch = exp, fault, action, watch
        self.seconds, self.progress, self.endless = seconds, progress, endless
        self.done: list[Cycle] = watch.cycles
        self.reported = 0
        self.passed = True
        self._applied: tuple[float, float] | None = None

    def report_done(self) -> None:
        for cycle in self.done[self.reported :]:
            self.passed = self.watch.report(cycle) and self.passed
        self.reported = len(self.done)

    def on_phase(self, phase: str, seconds: float) -> None:
        if phase != "faults":
            self.progress.stop()
        elif seconds == math.inf:  # said before the apply: Ctrl-C may come at once
            self.progress.start(math.inf)
        elif self.endless is not None:
            self.endless.start(math.inf)

    def on_fault(self, step: str, action: str, at: float) -> None:
        now, name = self.exp.clock.now(), escape(self.fault.service.name)
        if action == "apply":
            self._applied = (at, now)
            self.report_done()  # the previous cycle: its recovery had until this action
            pid = self.fault.acted_on
            what = f"{VERBS[self.action][0]} {name}" + (f" (pid {pid})" if pid else "")
            sig = self.fault.signal.name
            console.print(what + (f" with {sig}" if sig != "SIGKILL" else ""))
            if self.fault.survived:
                console.print(f"  {name} survived {sig}: still running 5s later (it "
                              "handles or ignores that signal)")  # fmt: skip
            if at + self.seconds > now:  # a kill that waited for the exit may have used it up
                self.progress.start(self.seconds)
            return
        if self._applied is not None:
            self._back(Cycle(*self._applied, at, now))
            self._applied = None

    def _back(self, cycle: Cycle) -> None:
        self.progress.stop()
        self.done.append(cycle)
        name = escape(self.fault.service.name)
        done = "left running" if self.fault.survived else VERBS[self.action][1]
        took = format_duration(round(cycle.back_at - cycle.in_place_at, 2))
        console.print(f"  {name} {done} after {took}")

    def after_run(self) -> None:
        """A cycle the signal cut short in its apply, which the runner did not see."""
        if self.fault.cut_short is not None:
            self._back(self.fault.cut_short)


def _run(exp: Experiment, endless: bool) -> Journal:
    """``exp.run()``. An endless repeat has no open window for the runner to see, yet
    Ctrl-C is its planned end as it is for one: here it stops the run (heal, checks)
    rather than interrupting it. The runner's own signal block nests in this one."""
    if not endless:
        return exp.run()
    with heal_on_signals():
        signals.signal(signals.SIGINT, lambda signum, frame: exp.stop())
        return exp.run()


def run_action(
    action: str, service: str | None, duration, interval, cycles, recover_within, signal,
    verbose: int, profile, force: bool, overlap: bool, report_dir: str | None = None,
) -> None:  # fmt: skip
    """The shared body of the four tasks."""
    setup(verbose)
    seconds = flags.duration(duration, "duration", 0 if action == "restart" else 10)
    every = flags.duration(interval, "interval", 0, minimum=0.01) if interval else 0
    within = flags.duration(recover_within, "recover-within", 10)
    given = cycles not in (None, "")
    count = int(flags.number(cycles, "cycles", 0, integer=True, maximum=None)) if given else None
    try:
        if every and seconds >= every:
            raise ConfigError(f"--duration={format_duration(seconds)} must be shorter than "
                              f"--interval={format_duration(every)}: the service comes back "
                              "before the next action")  # fmt: skip
        if count and not every:
            raise ConfigError("--cycles needs --interval (how often to repeat the action)")
        windows = _windows(action, seconds, every, count)
        sig = signal_named(signal or "SIGKILL")
        target = open_target(profile, force=force)
        if not service:
            raise ConfigError(
                f"--service is required; accepted: {', '.join(sorted(target.services))}"
            )
        target.service(service)  # an unknown name lists the accepted ones
        if not overlap:
            _refuse_overlap(target, service)
        exp = Experiment(action, steady_for=0, observe_after=within + 1,
                         profile=profile or "local")  # fmt: skip
        exp.observers, sources = watchers(target, service, exp.history)
    except ChaosError as exc:
        raise failed(exc) from None
    real = "stop" if action == "restart" else action
    fault = _Told(target.service(service), real, ledger=target.ledger, signal=sig)
    exp.add(action, fault, windows)
    watch = Watch(exp.history, service, sources, within, [])
    exp.steady_state = [watch.steady_before]
    exp.checks = [watch.recovery, *watch.outages()]
    exp.steady_state_after = [watch.steady_after]
    exp.observe_until = watch.recovered
    endless = bool(every) and not count
    what = f"{service} {HELD[action]}"
    said = HoldProgress(f"{what} for {format_duration(seconds)} every {format_duration(every)}")
    seen = _Cycles(
        exp, fault, action, watch, seconds, HoldProgress(what), said if endless else None
    )
    exp.on_phase, exp.on_fault = seen.on_phase, seen.on_fault
    try:
        journal = _run(exp, endless)
    finally:
        seen.progress.stop()
    seen.after_run()
    if journal.verdicts:  # the run reached its checks: the last cycle had its time
        seen.report_done()
    for v in journal.steady_state_after:
        console.print(f"{MARKS[v.status]} {escape(v.name)}: {escape(v.evidence)}")
    if every:
        n = len(seen.done)
        console.print(f"{n} cycle{'s' if n != 1 else ''} of {action} {escape(service)}")
    path = write_journal(journal, action, report_dir)
    if path is not None:
        console.print(f"Journal: {escape(str(path))}")
    if journal.steady_state and journal.steady_state[0].status != PASS:
        raise fail(ChaosError(f"{service} does not answer ({sources[0][1]}), so nothing was "
                              "done: an outage could not be measured"))  # fmt: skip
    if isinstance(exp.failure, ChaosError):
        raise failed(exp.failure)
    if exp.interrupted_by is not None or journal.status == "interrupted":
        code = 128 + (exp.interrupted_by or signals.SIGINT)
        raise Exit(f"interrupted: {service} was brought back", code=code)
    if journal.status not in ("passed", "inconclusive") or not seen.passed:
        raise Exit(code=1)


HELP = {
    "service": "The service (required): a service of the running stack, e.g. redis, postgres "
    "or toxiproxy, or a container of --profile's compose project; a bad name lists them.",
    "duration": "How long it stays {state} before chaoslib brings it back (500ms, 30s, 2m; "
    "default {default}); 0 holds it until Ctrl-C.",
    "interval": "Repeat: act every INTERVAL (e.g. 10s), each time for --duration, until "
    "Ctrl-C or --cycles; --duration must be shorter.",
    "cycles": "With --interval: how many times (default 0: until Ctrl-C).",
    "recover_within": "Fail (exit 1) unless it answers within this long after it is back "
    "(default 10s).",
    "verbose": V,
    "profile": PROFILE,
    "force": FORCE_NOT_OVERLAP,
    "overlap": "Act even if another running chaos task holds a fault on this service "
    "(refused by default, exit 2).",
    "report_dir": REPORT_DIR,
}


def _help(state: str, default: str = "10s") -> dict[str, str]:
    return {**HELP, "duration": HELP["duration"].format(state=state, default=default)}


@task(incrementable=["verbose"], help=_help("stopped"))
def stop(c, service=None, duration=None, interval=None, cycles=None, recover_within=None,
         verbose=0, profile=None, force=False, overlap=False, report_dir=None):  # fmt: skip
    """Stop a service gracefully, bring it back after --duration, measure the outage."""
    run_action("stop", service, duration, interval, cycles, recover_within, None, verbose,
               profile, force, overlap, report_dir)  # fmt: skip


@task(incrementable=["verbose"], help={
    **_help("dead"), "signal": "The signal (default SIGKILL); accepted: SIGKILL, SIGTERM, "
    "SIGINT, SIGQUIT, SIGHUP, SIGABRT, SIGUSR1, SIGUSR2 (with or without SIG)."})  # fmt: skip
def kill(c, service=None, signal=None, duration=None, interval=None, cycles=None,
         recover_within=None, verbose=0, profile=None, force=False, overlap=False,
         report_dir=None):  # fmt: skip
    """Kill a service (SIGKILL, or --signal), start it after --duration, measure the outage."""
    run_action("kill", service, duration, interval, cycles, recover_within, signal, verbose,
               profile, force, overlap, report_dir)  # fmt: skip


@task(incrementable=["verbose"], help=_help("paused (SIGSTOP; docker pause)"))
def pause(c, service=None, duration=None, interval=None, cycles=None, recover_within=None,
          verbose=0, profile=None, force=False, overlap=False, report_dir=None):  # fmt: skip
    """Freeze a service (every process of it), resume it after --duration, measure the outage."""
    run_action("pause", service, duration, interval, cycles, recover_within, None, verbose,
               profile, force, overlap, report_dir)  # fmt: skip


@task(incrementable=["verbose"], help=_help("down", default="0: started again at once"))
def restart(c, service=None, duration=None, interval=None, cycles=None, recover_within=None,
            verbose=0, profile=None, force=False, overlap=False, report_dir=None):  # fmt: skip
    """Restart a service (stop, down for --duration, start), measure the outage."""
    run_action("restart", service, duration, interval, cycles, recover_within, None, verbose,
               profile, force, overlap, report_dir)  # fmt: skip


TASKS = [stop, kill, pause, restart]
