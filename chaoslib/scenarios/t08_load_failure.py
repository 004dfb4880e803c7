"""Guide test 8: Redis is killed under load; monitoring resumes with nothing lost or doubled."""

from __future__ import annotations

from chaoslib.experiment.checks import Verdict, judged, no_loss, unknown
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.faults import schedule
from chaoslib.observe import StreamWorkload, WorkloadResult
from chaoslib.scenarios import common, facts, sources, subscriptions
from chaoslib.scenarios.base import ScenarioRun, check

STEP = "redis"


def items_resume(run: ScenarioRun) -> Check:
    """Every item gets new rows in the state store after Redis is back: monitoring resumed."""

    def judge(ctx: RunContext) -> Verdict:
        healed = next((f.wall for f in ctx.faults if f.action == "heal"), None)
        if healed is None:
            return unknown("Redis was never healed")
        first = min(f.t for f in ctx.faults)
        expected = run.expected_items(ctx.history, first)
        if not isinstance(expected, set):  # counted, not listed: the ids come from heartbeats
            expected = {i for b in run.beats(ctx.history, until=first) for i in b.items}
        found = sources.rows(run.system.direct["postgres"], run.contract.state_rows, healed,
                             healed + 3600)  # fmt: skip
        times = sources.row_times(found, expected)
        missing = sorted(i for i, ts in times.items() if not ts)
        n = len(expected) - len(missing)
        return judged(not missing and bool(expected), n, len(expected), "items",
                      f"no rows after the heal for {', '.join(missing[:6])}" if missing
                      else f"all {n} items wrote rows after the heal")  # fmt: skip

    return check("items_resume", "All items resume monitoring after recovery", judge)


def no_duplicate_assignments(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        found = facts.overlaps(run.beats(ctx.history), ctx.started, common.end_of(ctx), run.fresh())
        return judged(
            not found, len(found), 0, "items",
            "; ".join(f"{i} on {' and '.join(w)}" for i, w in list(found.items())[:5])
            or "no item was ever reported by two workers at once",
        )  # fmt: skip

    return check("no_duplicates", "No duplicate item assignments", judge)


def load_no_loss(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        return no_loss(WorkloadResult.from_history(ctx.history, "load"))

    return check("load_no_loss", "No message loss (acknowledged writes under load)", judge)


def build(run: ScenarioRun) -> Experiment:
    clients = common.redis_clients(run)
    exp = run.experiment("load-failure", observe_after=run.wait("recover"))
    exp.observers.append(
        StreamWorkload(run.system.direct["redis"], "chaoslib:load", name="load", interval=0.005)
    )
    listening = subscriptions.observer(run, run.workers)
    if listening is not None:
        exp.observers.append(listening)
    exp.add(
        STEP, common.stack_fault(run, "redis", "kill"), schedule.once(0, run.wait("redis_down"))
    )
    exp.checks = [
        common.reconnected(run, STEP, clients),
        subscriptions.resubscribed(run, STEP, run.workers, coordinator=True),
        common.no_exits(run),
        items_resume(run),
        no_duplicate_assignments(run),
        common.message_loss(run),
        load_no_loss(run),
        common.back_to_steady(run),
    ]
    return exp
