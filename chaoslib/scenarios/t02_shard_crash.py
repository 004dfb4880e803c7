"""Guide test 2: a worker crashes; it is declared dead and its items move to the survivor."""

from __future__ import annotations

from chaoslib.errors import MissingFact
from chaoslib.experiment.checks import Verdict, failed, judged, unknown, within
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.faults import schedule
from chaoslib.faults.service import ServiceFault
from chaoslib.scenarios import common, facts, sources
from chaoslib.scenarios.base import ScenarioRun, check
from chaoslib.scenarios.workers import dead_at, held_before


def marked_dead(run: ScenarioRun, step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        timeout, limit = run.setting("worker_timeout"), run.limit("mark_dead")
        at = ctx.applied_at(step) or 0.0
        dead = dead_at(run, ctx, run.victim, at)
        if dead is None:
            return failed(f"{run.victim} was never marked dead", limit, "s")
        took = round(dead - at, 3)
        # Earlier than the timeout minus one heartbeat would be a false positive.
        early = took < timeout - run.setting("heartbeat_interval")
        return judged(not early and took <= limit, took, limit, "s",
                      f"marked dead {took:g}s after it stopped (worker timeout {timeout:g}s)"
                      + ("; too early: a false positive" if early else ""))  # fmt: skip

    timeout = run.setting_or("worker_timeout", 0)
    return check("mark_dead", f"Coordinator marks the worker dead after {timeout:g}s", judge)


def reassigned(run: ScenarioRun, step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        limit, victim, survivor = run.limit("reassign"), run.victim, run.survivor
        item_pattern = run.pattern("item_added", "item")
        lost = held_before(run, ctx, step, victim)
        dead = dead_at(run, ctx, victim, ctx.applied_at(step) or 0.0)
        if not lost or dead is None:
            return unknown(f"{victim} had no items" if not lost else f"{victim} never marked dead",
                           limit, "s")  # fmt: skip
        received: dict[str, float] = {}
        for line in facts.log_lines(ctx.history, survivor, "item_added", dead):
            item = facts.group(line, item_pattern, "item")
            if item is not None:
                received.setdefault(item, line.t)
        until = ctx.healed_at(step) or common.end_of(ctx)
        held = facts.items_at(run.beats(ctx.history, until=until), until, run.fresh())
        missing = sorted(lost - set(received) | lost - held.get(survivor, frozenset()))
        moved = len(facts.log_lines(ctx.history, run.coordinator, "reassigning", dead))
        if missing:
            return failed(
                f"{len(missing)} of {victim}'s {len(lost)} items never reached {survivor} "
                f"(e.g. {', '.join(missing[:4])}); {moved} reassignment lines", limit, "s",
            )  # fmt: skip
        took = max(received[i] for i in lost) - dead
        return within(took, limit, f"all {len(lost)} items on {survivor} {max(took, 0):.3g}s "
                      f"after the dead mark (its item lines and heartbeat); {moved} reassignment "
                      "lines", {"items": len(lost)})  # fmt: skip

    return check(
        "reassign",
        f"Items automatically reassigned to {run.named('survivor', 'the survivor')}",
        judge,
    )


def coverage(run: ScenarioRun, step: str) -> Check:
    """From the state store's rows: the longest stretch a moved item went unmonitored."""

    def judge(ctx: RunContext) -> Verdict:
        limit = run.limit("mark_dead") + run.limit("reassign")
        if not run.contract.state_rows:  # asked first: no gap can be measured without rows
            raise MissingFact("state store query (contract.state_store.rows)")
        lost = sorted(held_before(run, ctx, step, run.victim))
        applied = next((f.wall for f in ctx.faults if f.fault == step), None)
        healed = next((f.wall for f in ctx.faults if f.fault == step and f.action == "heal"), None)
        if not lost or applied is None or healed is None:
            return unknown("no moved items to measure", limit, "s")
        found = sources.rows(run.system.direct["postgres"], run.contract.state_rows, applied - 1,
                             healed)  # fmt: skip
        gaps = {
            i: max(
                (b - a for a, b in zip([applied - 1, *ts], [*ts, healed], strict=False)), default=0
            )
            for i, ts in sources.row_times(found, lost).items()
        }
        worst = max(gaps, key=gaps.__getitem__)
        return judged(gaps[worst] <= limit, round(gaps[worst], 3), limit, "s",
                      f"longest gap between rows: {gaps[worst]:.3g}s ({worst})")  # fmt: skip

    return check("coverage", "No item monitoring gaps (rows in the state store)", judge)


def no_cascade(run: ScenarioRun, step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        wrongly = dead_at(run, ctx, run.survivor, ctx.applied_at(step) or 0.0)
        return judged(wrongly is None, 0 if wrongly is None else 1, 0, "workers",
                      f"{run.survivor} was marked dead too" if wrongly is not None
                      else f"{run.survivor} stayed healthy")  # fmt: skip

    return check("no_cascade", "No cascading failures (the healthy worker stays healthy)", judge)


def build(run: ScenarioRun) -> Experiment:
    victim = run.victim
    step = f"stop-{victim}"
    exp = run.experiment("shard-crash", observe_after=common.settle(run))
    exp.add(
        step,
        ServiceFault(run.system.service(victim), "stop", ledger=run.system.ledger),
        schedule.once(0, run.wait("shard_timeout") + run.limit("reassign")),
    )
    exp.checks = [
        marked_dead(run, step),
        reassigned(run, step),
        coverage(run, step),
        no_cascade(run, step),
        common.no_exits(run, targeted=(victim,)),
        common.back_to_steady(run),
    ]
    return exp
