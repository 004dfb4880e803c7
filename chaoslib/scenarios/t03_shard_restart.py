"""Guide test 3: a worker restarts; the coordinator notices once and resyncs its items."""

from __future__ import annotations

from chaoslib.experiment.checks import Verdict, failed, judged, unknown
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.faults import schedule
from chaoslib.faults.service import Restart
from chaoslib.scenarios import common, facts
from chaoslib.scenarios.base import ScenarioRun, check
from chaoslib.scenarios.workers import held_before


def restart_detected(run: ScenarioRun, step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        pattern = run.pattern("restart_detected", "worker")
        at = ctx.applied_at(step) or 0.0
        lines = [
            e
            for e in facts.log_lines(ctx.history, run.coordinator, "restart_detected", at - 5)
            if facts.group(e, pattern, "worker") == run.victim
        ]
        n = len(lines)
        evidence = {
            0: "no restart line: the restart went unnoticed",
            1: f"'{facts.said(lines[0]) if lines else ''}' once",
        }.get(
            n, f"restart of {run.victim} detected {n} times: every heartbeat looks like a restart"
        )
        return judged(n == 1, n, 1, "detections", evidence)

    return check(
        "restart_detected", "Coordinator detects the restart (a new process id), once", judge
    )


def resynced(run: ScenarioRun, step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        limit, victim = run.limit("resync"), run.victim
        wanted = held_before(run, ctx, step, victim)
        at = ctx.healed_at(step) or 0.0  # the new process is up
        found = run.beats(ctx.history, victim, since=at)
        full = [b for b in found if b.items >= wanted]
        if not wanted:
            return unknown(f"{victim} had no items before", limit, "s")
        if not full:
            last = found[-1].items if found else frozenset()
            return failed(f"{victim} never got its {len(wanted)} items back (has {len(last)})",
                          limit, "s")  # fmt: skip
        # The restart (stop, then start) is the apply; its items may arrive before the heal.
        took, how = _received(run, ctx, wanted, ctx.applied_at(step) or at)
        if took is None:  # no item lines to time it by: the heartbeat that lists them all
            took, how = round(full[0].t - at, 3), "heartbeat"
        # A fresh process starts its reconnect counter at zero (where the heartbeat has one).
        counter = full[0].metric("reconnects")
        fresh_start = counter is None or counter == 0
        return judged(took <= limit and fresh_start, took, limit, "s",
                      f"all {len(wanted)} items back {took:g}s after the restart ({how}; its "
                      "heartbeat lists them)"
                      + ("" if fresh_start else "; reconnect counter did not start fresh"))  # fmt: skip

    return check(
        "resync", f"Items resynced within {run.limit('resync'):g}s; the worker gets all back", judge
    )


def _received(
    run: ScenarioRun, ctx: RunContext, wanted: frozenset[str], since: float
) -> tuple[float | None, str]:
    """When the last wanted item reached the victim, by its own item lines (stamped when
    they happened; a heartbeat only shows it up to one interval later)."""
    pattern = run.contract.log_patterns.get("item_added", "")
    if "item" not in run.contract.groups("item_added"):
        return None, ""
    first: dict[str, float] = {}
    for line in facts.log_lines(ctx.history, run.victim, "item_added", since):
        item = facts.group(line, pattern, "item")
        if item in wanted:
            first.setdefault(item, line.t)
    if set(first) != set(wanted):
        return None, ""
    return round(max(first.values()) - since, 3), "its item lines, from the restart's start"


def build(run: ScenarioRun) -> Experiment:
    victim = run.victim
    run.heartbeat_fact("process")  # a restart is seen as a new process identity
    step = f"restart-{victim}"
    exp = run.experiment("shard-restart", observe_after=max(run.wait("resync"), common.settle(run)))
    exp.add(
        step, Restart(run.system.service(victim), ledger=run.system.ledger), schedule.once(0, 0.01)
    )
    exp.checks = [
        restart_detected(run, step),
        resynced(run, step),
        common.no_exits(run, targeted=(victim,)),
        common.back_to_steady(run),
    ]
    return exp
