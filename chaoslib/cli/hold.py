"""Holding one fault from a task, through the one runner: an :class:`Experiment` whose
steady state is a probe through the fault's link answering, whose step is the fault on
its windows (once, until Ctrl-C, or a flap's), and whose checks are the recovery, the
fault's effect and the task's own measures. The run leaves a journal like the suite's.

The fault must show that it touched something: a protocol toxic by its match counts, a
link down or a flap by the probe failing while it held. A fault that touched nothing fails.
"""

from __future__ import annotations

import os

from rich.markup import escape

from chaoslib.cli import measure
from chaoslib.cli.effect import effect_of, members
from chaoslib.cli.hold_output import HoldProgress, say_left_down, write_journal
from chaoslib.cli.hold_records import Held, Outcome
from chaoslib.cli.output import console
from chaoslib.errors import ConfigError
from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment.runner import Experiment, RunContext
from chaoslib.faults.network import PROTOCOL_TOXICS, LinkDown, ToxicFault
from chaoslib.faults.owners import Claim, LinkOwners, left_by_dead_runs
from chaoslib.observe.base import Probe
from chaoslib.observe.held import HeldRedisProbe, HeldSqlProbe
from chaoslib.target import Target

STEADY_FOR = 0.6  # seconds of probing before the fault: the steady state and the baseline
STEP = "fault"  # the step's name in the journal


def probe_for(target: Target, link: str, deadline: float) -> Probe:
    """A Redis PING or a SQL ``SELECT 1`` through the link, on one kept connection."""
    url = target.url(link)
    if url.startswith("redis"):
        return HeldRedisProbe(url, name=f"{link} probe", interval=0.1, deadline=deadline)
    return HeldSqlProbe(url, name=f"{link} probe", interval=0.1, deadline=deadline)


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


def held_by_others(target: Target, links: list[str]) -> list[Claim]:
    """Live claims of other processes on these links (their faults hold them now)."""
    if target.ledger is None:
        return []
    owners = LinkOwners(target.ledger.path.parent)
    found = []
    for api in dict.fromkeys(target.link(name).client.url for name in links):
        found += [c for c in owners.holders(api, links) if c.pid != os.getpid()]
    return found


class _Watch:
    """The probe's samples, read as the run goes: before, during and after the fault."""

    def __init__(self, held: Held, probe: Probe) -> None:
        self.held, self.probe = held, probe
        self.link = probe.name.removesuffix(" probe")

    def samples(self, ctx: RunContext) -> list[measure.Sample]:
        return measure.samples(ctx.history, self.probe.name)

    def threshold(self, ctx: RunContext) -> float:
        applied = ctx.applied_at(STEP)
        steady = [s for s in self.samples(ctx) if applied is None or s.end < applied]
        base = measure.baseline(steady)
        return measure.slow_threshold(0.05 if base is None else base, self.held.added)

    def timing(self, ctx: RunContext) -> measure.Timing | None:
        applied, healed = ctx.applied_at(STEP), ctx.healed_at(STEP)
        if applied is None or healed is None:
            return None
        return measure.timing(self.samples(ctx), applied, healed, self.threshold(ctx))

    def steady_before(self, ctx: RunContext) -> Verdict:
        if self.held.overlapping:  # another fault holds the link: no steady state to expect
            who = "; ".join(f"pid {c.pid}: {c.description}" for c in self.held.overlapping)
            return Verdict(f"steady state before the fault: {self.link} answers", UNKNOWN,
                           evidence=f"another fault holds the link ({who})")  # fmt: skip
        return measure.steady_verdict(self.samples(ctx), self.link, "before the fault")

    def recovered(self, ctx: RunContext) -> bool:
        """Observing may end: a good answer after the heal, and one more to judge after."""
        t = self.timing(ctx)
        if t is None or t.recovered_at is None:
            return False
        healed = ctx.healed_at(STEP) or 0.0
        after = [s for s in self.samples(ctx) if s.start >= healed + t.recovered_at]
        return len(after) >= 2

    def recovery(self, ctx: RunContext) -> Verdict:
        t = self.timing(ctx)
        if t is None:
            return Verdict(f"{self.link} recovered", UNKNOWN, evidence="the fault never held")
        return measure.recovery_verdict(t, self.link, self.held.recover_within)

    def steady_after(self, ctx: RunContext) -> Verdict:
        t = self.timing(ctx)
        if t is None or t.recovered_at is None:
            return Verdict(f"steady state after the heal: {self.link} answers", UNKNOWN,
                           evidence="it never recovered, so there is no after")  # fmt: skip
        since = (ctx.healed_at(STEP) or 0.0) + t.recovered_at
        after = [s for s in self.samples(ctx) if s.start >= since]
        return measure.steady_verdict(after, self.link, "after the heal")

    def effect(self, ctx: RunContext) -> Verdict:
        applied, healed = ctx.applied_at(STEP), ctx.healed_at(STEP)
        name = "the fault touched its links"
        if applied is None or healed is None:
            return Verdict(name, UNKNOWN, evidence="it was never applied")
        applied = max(applied, self.held.in_place_at or applied)
        found = effect_of(self.held.fault, ctx.history, self.probe.name, applied, healed,
                          flapping=self.held.flapping, own_matches=self.held.own_matches())  # fmt: skip
        if found is None:
            return Verdict(name, PASS, evidence="nothing to show for this kind of fault")
        status = {True: PASS, False: FAIL, None: UNKNOWN}[found.touched]
        return Verdict(name, status, evidence=found.evidence)


def hold_and_measure(target: Target, held: Held) -> Outcome:
    link = probe_link(target, held.links)
    probe = probe_for(target, link, deadline=max(2.0, 4 * held.added + 1.0))
    watch = _Watch(held, probe)
    exp = Experiment(held.task, steady_for=STEADY_FOR, observe_after=held.recover_within + 1,
                     profile=held.profile)  # fmt: skip
    exp.observers = [probe]
    exp.add(STEP, held.fault, held.windows)
    exp.steady_state = [watch.steady_before]
    shows = [m for m in members(held.fault) if isinstance(m, LinkDown | ToxicFault)]
    shows = [m for m in shows if not isinstance(m, ToxicFault) or m.type in PROTOCOL_TOXICS]
    exp.checks = [watch.effect] if shows else []  # other toxics: the task's own measures
    exp.checks += [watch.recovery, *held.checks]
    exp.steady_state_after = [watch.steady_after]
    exp.observe_until = watch.recovered
    said: dict[str, bool] = {}

    def on_phase(phase: str, seconds: float) -> None:
        if phase == "observing recovery":
            console.print(f"Waiting up to {held.recover_within:g}s for {escape(link)} to answer…")

    def on_fault(step: str, action: str, at: float) -> None:
        if action == "apply" and not said.get("applied"):
            said["applied"] = True
            held.in_place_at = probe.clock.now()
            console.print(f"Applied: {escape(held.fault.describe())}")
            n = len(held.links)
            console.print(f"Applied to {n} link{'s' if n > 1 else ''}: "
                          f"{escape(', '.join(held.links))} (probing through {escape(link)})")  # fmt: skip
            for start in held.on_apply:
                start(at)
        elif action == "heal" and not held.flapping:
            console.print(f"Healed: {escape(held.fault.describe())}")
            say_left_down(held.fault)
        if held.flapping:
            console.print(
                f"  {escape(link)} link {'[red]down[/]' if action == 'apply' else '[green]up[/]'}"
            )
            said["heals"] = said.get("heals", 0) + (action == "heal")
            if said["heals"] == len(held.windows):
                said["healed"] = True
                console.print(f"Healed: {escape(held.fault.describe())}")

    exp.on_phase, exp.on_fault = on_phase, on_fault
    journal = HoldProgress("the flap" if held.flapping else "the fault").run(exp)
    if held.flapping and said.get("applied") and not said.get("healed"):
        console.print(f"Healed: {escape(held.fault.describe())}")
    ctx = RunContext(exp.history, faults=list(journal.faults))
    path = write_journal(journal, held.task, held.report_dir)
    return Outcome(journal, path, exp.interrupted_by, exp.failure, watch.timing(ctx))
