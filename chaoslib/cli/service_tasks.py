"""``chaos stop|kill|pause|restart --service NAME``: a service of the running stack, measured.

Each cycle applies the action, holds it for ``--duration``, brings the service back,
and measures from a probe: through the service's link for Redis and PostgreSQL, else the
process's (or container's) state. ``--interval`` repeats the cycle, as Pumba does.

What is measured, and how: :mod:`chaoslib.cli.service_measure`.
"""

from __future__ import annotations

import time

from invoke import task
from invoke.exceptions import Exit
from rich.markup import escape

from chaoslib.cli.flags import DAY, FORCE, PROFILE, V
from chaoslib.cli.output import console, fail, failed, setup
from chaoslib.cli.service_measure import STEADY_SAMPLES, Cycle, report, slow_after
from chaoslib.durations import format_duration, parse_duration
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.faults.ledger import LedgerEntry
from chaoslib.faults.service import ServiceFault, signal_named
from chaoslib.faults.signals import Terminated, heal_on_signals
from chaoslib.observe.base import Observer
from chaoslib.observe.history import History
from chaoslib.observe.probes import redis_ping, sql
from chaoslib.observe.processes import ProcessStates
from chaoslib.target import Target, open_target
from chaoslib.target.base import STACK_SERVICES
from chaoslib.wait import WaitTimeout, wait_until

# What each task does, and what brings the service back (for the messages).
VERBS = {"stop": ("Stopped", "started"), "kill": ("Killed", "started"),
         "pause": ("Paused", "resumed"), "restart": ("Stopped", "started")}  # fmt: skip


def _watchers(
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


def _hold(seconds: float) -> None:
    """Hold for ``seconds`` (0: until a signal ends it); time.sleep wakes for signals."""
    end = None if seconds == 0 else time.monotonic() + seconds
    while end is None or (left := end - time.monotonic()) > 0:
        time.sleep(0.5 if end is None else min(0.5, left))


def _one(
    fault: ServiceFault,
    action: str,
    hold: float | None,
    clock,  # noqa: ANN001
) -> tuple[Cycle, BaseException | None]:
    """Apply, hold ``hold`` seconds (None: until a signal), heal; the cycle's times, and
    the signal that ended the hold early (the cycle is measured all the same)."""
    service = fault.service
    pid = service.pid
    applied_at = in_place_at = clock.now()
    stopped: BaseException | None = None
    if hold is None:  # said first: Ctrl-C may come as soon as the fault shows
        console.print("Holding until Ctrl-C…")
    try:
        fault.apply()
        in_place_at = clock.now()
        what = f"{VERBS[action][0]} {service.name}" + (f" (pid {pid})" if pid else "")
        if fault.signal.name != "SIGKILL":
            what += f" with {fault.signal.name}"
        console.print(escape(what))
        if fault.survived:
            console.print(f"  {escape(service.name)} survived {fault.signal.name}: still "
                          "running 5s later (it handles or ignores that signal)")  # fmt: skip
        if hold is None or hold > 0:
            _hold(hold or 0)
    except (KeyboardInterrupt, Terminated) as exc:
        stopped = exc
    finally:
        heal_at = clock.now()
        fault.heal()
        back_at = clock.now()
        done = "left running" if fault.survived else VERBS[action][1]
        console.print(f"  {escape(service.name)} {done} after "
                      f"{format_duration(round(back_at - in_place_at, 2))}")  # fmt: skip
    return Cycle(applied_at, in_place_at, heal_at, back_at), stopped


def _wait_answers(history: History, sources: list[str], since: float, timeout: float) -> None:
    """Until each source has answered since ``since`` (all within one ``timeout``)."""
    end = time.monotonic() + timeout
    for src in sources:
        history.wait_for(
            lambda e, src=src: e.source == src and e.ok is True and e.t >= since,
            max(0.0, end - time.monotonic()),
        )


def run_action(
    action: str, service: str | None, duration, interval, cycles, recover_within, signal,
    verbose: int, profile, force: bool, overlap: bool,
) -> None:  # fmt: skip
    """The shared body of the four tasks."""
    setup(verbose)
    try:
        seconds = parse_duration(duration or ("0" if action == "restart" else "10s"),
                                 "--duration", maximum=DAY)  # fmt: skip
        every = parse_duration(interval, "--interval", minimum=0.01, maximum=DAY) if interval else 0
        within = parse_duration(recover_within or "10s", "--recover-within", maximum=DAY)
        count = int(cycles) if cycles not in (None, "") and str(cycles).isdigit() else None
        if cycles not in (None, "") and count is None:
            raise ConfigError(f"--cycles={cycles!r} is not a whole number >= 0; 0 repeats "
                              "until Ctrl-C")  # fmt: skip
        if every and seconds >= every:
            raise ConfigError(f"--duration={format_duration(seconds)} must be shorter than "
                              f"--interval={format_duration(every)}: the service comes back "
                              "before the next action")  # fmt: skip
        if count and not every:
            raise ConfigError("--cycles needs --interval (how often to repeat the action)")
        sig = signal_named(signal or "SIGKILL")
        target = open_target(profile, force=force)
        if not service:
            raise ConfigError(
                f"--service is required; accepted: {', '.join(sorted(target.services))}"
            )
        target.service(service)  # an unknown name lists the accepted ones
        if not overlap:
            _refuse_overlap(target, service)
    except ChaosError as exc:
        raise failed(exc) from None
    history = History()
    observers, sources = _watchers(target, service, history)
    source = sources[0][0]
    real = "stop" if action == "restart" else action
    fault = ServiceFault(target.service(service), real, ledger=target.ledger, signal=sig)
    clock = observers[0].clock
    for observer in observers:
        observer.start()
    try:  # a baseline first: what a healthy answer takes, and proof the probe works
        wait_until(
            lambda: sum(1 for e in history.select(source=source) if e.ok) >= STEADY_SAMPLES,
            timeout=10,
            what=f"{service} to answer",
        )
        steady = True
    except WaitTimeout:
        steady = None
    if steady is None:
        for observer in observers:
            observer.stop()
        raise fail(ChaosError(f"{service} does not answer ({sources[0][1]}), so nothing was "
                              "done: an outage could not be measured"))  # fmt: skip
    slows = {src: slow_after(history, src, clock.now()) for src, _ in sources}
    passed, code, done = True, 0, 0
    forever = seconds == 0 and not every and action != "restart"
    open_ended = forever or (every and not count)
    try:
        with heal_on_signals():
            try:
                origin = clock.now()
                while True:
                    cycle, stopped = _one(fault, action, None if forever else seconds, clock)
                    done += 1
                    last = stopped is not None or (count is not None and done >= count) or not every
                    wait = within + 1 if last else max(0.0, origin + done * every - clock.now())
                    _wait_answers(history, [src for src, _ in sources], cycle.heal_at, wait)
                    passed = report(history, service, sources, cycle, slows, within) and passed
                    if stopped is not None:
                        raise stopped
                    if last:
                        break
                    _hold(max(0.0, origin + done * every - clock.now()))
            except KeyboardInterrupt:
                code = 0 if open_ended else 130
            except Terminated:
                code = 143
            except ChaosError as exc:
                raise failed(exc) from None
    finally:
        for observer in observers:
            observer.stop()
    if every:
        console.print(f"{done} cycle{'s' if done != 1 else ''} of {action} {escape(service)}")
    if code:
        raise Exit(f"interrupted: {service} was brought back", code=code)
    if not passed:
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
    "force": FORCE,
    "overlap": "Act even if another running chaos task holds a fault on this service "
    "(refused by default, exit 2).",
}


def _help(state: str, default: str = "10s") -> dict[str, str]:
    return {**HELP, "duration": HELP["duration"].format(state=state, default=default)}


@task(incrementable=["verbose"], help=_help("stopped"))
def stop(c, service=None, duration=None, interval=None, cycles=None, recover_within=None,
         verbose=0, profile=None, force=False, overlap=False):  # fmt: skip
    """Stop a service gracefully, bring it back after --duration, measure the outage."""
    run_action("stop", service, duration, interval, cycles, recover_within, None, verbose,
               profile, force, overlap)  # fmt: skip


@task(incrementable=["verbose"], help={
    **_help("dead"), "signal": "The signal (default SIGKILL); accepted: SIGKILL, SIGTERM, "
    "SIGINT, SIGQUIT, SIGHUP, SIGABRT, SIGUSR1, SIGUSR2 (with or without SIG)."})  # fmt: skip
def kill(c, service=None, signal=None, duration=None, interval=None, cycles=None,
         recover_within=None, verbose=0, profile=None, force=False, overlap=False):  # fmt: skip
    """Kill a service (SIGKILL, or --signal), start it after --duration, measure the outage."""
    run_action("kill", service, duration, interval, cycles, recover_within, signal, verbose,
               profile, force, overlap)  # fmt: skip


@task(incrementable=["verbose"], help=_help("paused (SIGSTOP; docker pause)"))
def pause(c, service=None, duration=None, interval=None, cycles=None, recover_within=None,
          verbose=0, profile=None, force=False, overlap=False):  # fmt: skip
    """Freeze a service (every process of it), resume it after --duration, measure the outage."""
    run_action("pause", service, duration, interval, cycles, recover_within, None, verbose,
               profile, force, overlap)  # fmt: skip


@task(incrementable=["verbose"], help=_help("down", default="0: started again at once"))
def restart(c, service=None, duration=None, interval=None, cycles=None, recover_within=None,
            verbose=0, profile=None, force=False, overlap=False):  # fmt: skip
    """Restart a service (stop, down for --duration, start), measure the outage."""
    run_action("restart", service, duration, interval, cycles, recover_within, None, verbose,
               profile, force, overlap)  # fmt: skip


TASKS = [stop, kill, pause, restart]
