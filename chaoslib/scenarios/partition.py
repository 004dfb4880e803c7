"""Guide test 7: only the orchestrator loses Redis (its per-client links), then gets it back."""

from __future__ import annotations

from chaoslib import schedule
from chaoslib.checks import FAIL, PASS, Verdict
from chaoslib.experiment import Check, Experiment, RunContext
from chaoslib.faults.network import partition
from chaoslib.scenarios import common, facts
from chaoslib.scenarios.base import ScenarioRun, check

CLIENT = "orchestrator"
STEP = f"partition-{CLIENT}"


def attempts_logged(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        at, healed = ctx.applied_at(STEP) or 0.0, ctx.healed_at(STEP) or 0.0
        n = len(facts.log_lines(ctx.history, CLIENT, "redis_retry", at, healed + 0.5))
        return Verdict(
            "",
            PASS if n else FAIL,
            n,
            1,
            "attempts",
            f"{n} reconnection attempts logged during the cut",
        )

    return check("attempts", "Orchestrator logs reconnection attempts", judge)


def resubscribed(run: ScenarioRun) -> Check:
    limit = run.limit("reconnect")

    def judge(ctx: RunContext) -> Verdict:
        return common.line_within(
            ctx, CLIENT, "subscribed", ctx.healed_at(STEP) or 0.0, limit,
            missing="never subscribed again after the cut",
            said=lambda line, took: f"'{facts.said(line)}' {took:g}s after the heal",
        )  # fmt: skip

    return check("resubscribed", "All subscriptions re-established after reconnect", judge)


def others_unaffected(run: ScenarioRun) -> Check:
    """A partial partition: the shards kept talking to Redis while the orchestrator could not."""

    def judge(ctx: RunContext) -> Verdict:
        at, healed = ctx.applied_at(STEP) or 0.0, ctx.healed_at(STEP) or 0.0
        heard = {s: len(facts.heartbeats(ctx.history, s, at, healed)) for s in run.shards}
        cut = [
            s
            for s in run.services
            if s != CLIENT and facts.log_lines(ctx.history, s, "redis_disconnected", at, healed)
        ]
        silent = [s for s, n in heard.items() if n == 0]
        bad = silent + cut
        return Verdict(
            "",
            FAIL if bad else PASS,
            len(bad),
            0,
            "services",
            ", ".join(f"{s}: {n} heartbeats" for s, n in heard.items())
            + (f"; also cut off: {', '.join(cut)}" if cut else ""),
        )

    return check("partial", "Only the orchestrator is cut off; the others keep working", judge)


def orchestrator_partition(run: ScenarioRun) -> Experiment:
    exp = run.experiment("orchestrator-partition", observe_after=run.wait("recover"))
    links = [run.system.link(name) for name in run.system.links_to("redis", CLIENT)]
    exp.add(STEP, partition(links), schedule.once(0, run.wait("partition")))
    exp.checks = [
        attempts_logged(run),
        common.backoff(run, STEP, [CLIENT]),
        resubscribed(run),
        others_unaffected(run),
        common.message_loss(run),
        common.no_exits(run),
        common.back_to_steady(run),
    ]
    return exp
