"""Holding one fault from a task: apply, show progress, heal, measure recovery with a probe.

The probe goes through a link the fault touched, and the fault must show that
it touched something: a protocol toxic by its match counts, a link down or a
flap by the probe failing while it held. A fault that touched nothing fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from chaoslib.checks import Verdict, recovered_within
from chaoslib.cli.output import console
from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.group import FaultGroup
from chaoslib.faults.network import PROTOCOL_TOXICS, Flap, LinkDown, ToxicFault
from chaoslib.faults.owners import LinkHeld, left_by_dead_runs
from chaoslib.faults.signals import Terminated, heal_on_signals
from chaoslib.observe.base import Probe
from chaoslib.observe.history import History
from chaoslib.observe.probes import redis_ping, sql
from chaoslib.target import Target

# What a protocol toxic counts, for the message.
UNITS = {"pg_query": "statements", "redis_command": "commands"}


@dataclass(frozen=True)
class Effect:
    """Whether the fault touched what it acted on (None: nothing could show it), and why."""

    touched: bool | None
    evidence: str


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    interrupted: bool
    effect: Effect | None = None  # None: this kind of fault has no effect check

    @property
    def passed(self) -> bool:
        return self.verdict.passed and (self.effect is None or self.effect.touched is not False)


def probe_for(target: Target, link: str, history: History) -> Probe:
    """A Redis PING or a SQL ``SELECT 1`` through the link, by the link's URL scheme."""
    url = target.url(link)
    if url.startswith("redis"):
        return redis_ping(url, history, name=f"{link} probe", interval=0.1, deadline=2.0)
    return sql(url, history, name=f"{link} probe", interval=0.2, deadline=2.0)


def probe_link(target: Target, links: list[str]) -> str:
    """The first of the fault's links this host can reach: the probe must cross the fault."""
    for link in links:
        if target.link_urls.get(link):
            return link
    raise ConfigError(
        f"none of the links this fault acts on ({', '.join(links)}) is published on this host, "
        "so no probe can cross the fault to measure its recovery; include a published link "
        "(in compose mode the shared redis and timescaledb proxies are: drop --client, or add "
        "it with --link), or publish the link's listen port in your compose override"
    )


def refuse_leftovers(target: Target, links: list[str]) -> None:
    """A fault a killed run left on these links: this one would touch nothing, and report
    the dead run's fault as its own. Refused (2) until ``chaos.reset`` heals it."""
    ledger = target.ledger
    if ledger is None:  # nothing is recorded there, so no dead run's fault can be found
        return
    stale = [
        entry
        for api in dict.fromkeys(target.link(name).client.url for name in links)
        for entry in left_by_dead_runs(ledger, api, links)
    ]
    if stale:
        what = "; ".join(f"{e.description} (pid {e.pid}, no longer running)" for e in stale)
        raise ConfigError(
            f"a run that ended without healing left a fault on these links: {what}. "
            "Run invoke chaos.reset to heal it, then try again"
        )


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


def _members(fault: Fault) -> list[Fault]:
    return list(fault.members) if isinstance(fault, FaultGroup) else [fault]


def effect_of(
    fault: Fault, history: History, probe: str, applied_at: float, healed_at: float
) -> Effect | None:
    """What proves the fault reached a client: match counts, or the probe cut while it held."""
    members = _members(fault)
    protocol = [m for m in members if isinstance(m, ToxicFault) and m.type in PROTOCOL_TOXICS]
    if protocol:
        stats = fault.stats if isinstance(fault, FaultGroup) else protocol[0].stats
        first = protocol[0]
        unit = UNITS[first.type]
        what = first.attributes.get("pattern") or ", ".join(first.attributes.get("commands", []))
        if "matched" not in stats:
            return Effect(False, f"the proxy reported no match counts for {first.type}, so "
                                 "nothing shows the fault touched a client")  # fmt: skip
        matched, passed = stats["matched"], stats.get("passed", 0)
        if matched == 0:
            return Effect(False, f'0 {unit} matched "{what}" ({passed} passed)')
        return Effect(True, f"matched {matched}, passed {passed}")
    if all(isinstance(m, LinkDown | Flap) for m in members):
        # A probe counts from when it started (its end less its latency): one that got its
        # answer just before the cut may be recorded after it on a busy machine.
        during = [
            e
            for e in history.select(source=probe)
            if applied_at <= e.t - float(e.value or 0) and e.t <= healed_at
        ]
        link = probe.removesuffix(" probe")
        if not during:  # held too briefly for a probe to finish: no fact either way
            return Effect(None, f"no probe through {link} finished while it was down")
        if not any(e.ok is False for e in during):
            return Effect(False, f"the probe through {link} kept answering while it was down")
        answered = [e for e in during if e.ok is True]
        if answered and all(isinstance(m, LinkDown) for m in members):
            # A link down holds for its whole duration (a flap has up windows): an answer
            # while it held means something brought the link back early.
            at = answered[0].t - float(answered[0].value or 0) - applied_at
            return Effect(False, f"the probe through {link} answered {at:.1f}s into the hold: "
                                 "the link did not stay down (something else enabled it)")  # fmt: skip
        return Effect(True, f"the probe through {link} was refused while it was down")
    return None


def hold_and_measure(
    target: Target,
    fault: Fault,
    links: str | list[str],
    duration: float,
    recover_within: float,
) -> Outcome:
    links = [links] if isinstance(links, str) else list(links)
    link = probe_link(target, links)
    history = History()
    probe = probe_for(target, link, history)
    probe.start()
    interrupted, refused = False, False
    try:
        with heal_on_signals():
            applied_at = probe.clock.now()
            in_place_at: float | None = None
            try:
                if duration == 0:  # said first: Ctrl-C may come as soon as the fault shows
                    console.print("Holding the fault until Ctrl-C…")
                fault.apply()
                in_place_at = probe.clock.now()  # probes before this may have got through
                console.print(f"Applied: {escape(fault.describe())}")
                console.print(
                    f"Applied to {len(links)} link{'s' if len(links) > 1 else ''}: "
                    f"{escape(', '.join(links))} (probing through {escape(link)})"
                )
                _hold(fault, duration)
            except KeyboardInterrupt:
                interrupted = duration != 0
            except Terminated:
                interrupted = True
            except LinkHeld:  # refused before anything was applied: nothing to heal or measure
                refused = True
                raise
            finally:
                fault.heal()
                healed_at = probe.clock.now()
                if not refused:
                    console.print(f"Healed: {escape(fault.describe())}")
                    _say_left_down(fault)
        for member in _members(fault):
            if isinstance(member, Flap) and member.error:
                console.print(f"[red]The flap schedule failed: {member.error}[/]")
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
    effect = (
        None
        if interrupted or in_place_at is None
        else effect_of(fault, history, probe.name, in_place_at, healed_at)
    )
    return Outcome(verdict, interrupted, effect)


def _say_left_down(fault: Fault) -> None:
    left = sorted({p for m in _members(fault) if isinstance(m, LinkDown) for p in m.left_down})
    if left:
        console.print(
            f"Still down for another fault that holds {'them' if len(left) > 1 else 'it'}: "
            f"{escape(', '.join(left))} (up again when that one heals)"
        )


def report(outcome: Outcome) -> None:
    effect = outcome.effect
    if effect is not None:
        if effect.touched is None:
            console.print(
                f"❔ unknown whether the fault touched its links: {escape(effect.evidence)}"
            )
        elif effect.touched:
            console.print(f"[green]✅[/] the fault touched its links: {escape(effect.evidence)}")
        else:
            console.print(f"[red]❌ the fault touched nothing: {escape(effect.evidence)}[/]")
    v = outcome.verdict
    mark = "[green]✅[/]" if v.passed else "[red]❌[/]"
    detect = v.details.get("time_to_detect_s")
    console.print(f"{mark} {escape(v.name)}: {escape(v.evidence)}")
    if detect is not None:
        console.print(f"   time to detect: {detect:g}s (first failed probe after the fault)")
