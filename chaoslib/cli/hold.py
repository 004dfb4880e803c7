"""Holding one fault from a task: apply, show progress, heal, measure recovery with a probe."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from chaoslib.checks import Verdict, recovered_within
from chaoslib.cli.output import console
from chaoslib.environment import Environment
from chaoslib.faults.base import Fault
from chaoslib.faults.network import Flap
from chaoslib.faults.signals import Terminated, heal_on_signals
from chaoslib.observe.base import Probe
from chaoslib.observe.history import History
from chaoslib.observe.probes import redis_ping, sql


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    interrupted: bool


def probe_for(env: Environment, link: str, history: History) -> Probe:
    """A Redis PING or a SQL ``SELECT 1`` through the link, by the link's URL scheme."""
    url = env.url(link)
    if url.startswith("redis"):
        return redis_ping(url, history, name=f"{link} probe", interval=0.1, deadline=2.0)
    return sql(url, history, name=f"{link} probe", interval=0.2, deadline=2.0)


def _hold(fault: Fault, duration: float) -> None:
    if duration == 0:
        while True:
            time.sleep(3600)  # ended by Ctrl-C, which heals
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(escape(fault.describe()), total=duration)
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < duration:
            if isinstance(fault, Flap) and fault.wait(0):
                break
            progress.update(task, completed=elapsed)
            time.sleep(min(0.1, duration - elapsed))


def hold_and_measure(
    env: Environment, fault: Fault, link: str, duration: float, recover_within: float
) -> Outcome:
    history = History()
    probe = probe_for(env, link, history)
    probe.start()
    interrupted = False
    try:
        with heal_on_signals():
            applied_at = probe.clock.now()
            try:
                if duration == 0:  # said first: Ctrl-C may come as soon as the fault shows
                    console.print("Holding the fault until Ctrl-C…")
                fault.apply()
                console.print(f"Applied: {escape(fault.describe())}")
                _hold(fault, duration)
            except KeyboardInterrupt:
                interrupted = duration != 0
            except Terminated:
                interrupted = True
            finally:
                fault.heal()
                healed_at = probe.clock.now()
                console.print(f"Healed: {escape(fault.describe())}")
        if isinstance(fault, Flap) and fault.error:
            console.print(f"[red]The flap schedule failed: {fault.error}[/]")
        with console.status(f"Waiting up to {recover_within:g}s for {link} to answer…"):
            history.wait_for(
                lambda e: e.source == probe.name and e.t >= healed_at and e.ok is True,
                recover_within + 1,
            )
    finally:
        probe.stop()
    verdict = recovered_within(
        history,
        probe.name,
        recover_within,
        healed_at=healed_at,
        fault_at=applied_at,
        name=f"{link} recovered within {recover_within:g}s",
    )
    return Outcome(verdict, interrupted)


def report(outcome: Outcome) -> None:
    v = outcome.verdict
    mark = "[green]✅[/]" if v.passed else "[red]❌[/]"
    detect = v.details.get("time_to_detect_s")
    console.print(f"{mark} {escape(v.name)}: {escape(v.evidence)}")
    if detect is not None:
        console.print(f"   time to detect: {detect:g}s (first failed probe after the fault)")
