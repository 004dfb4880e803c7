"""Guide test 7: only the coordinator loses Redis (its per-client links), then gets it back."""

from __future__ import annotations

from chaoslib.errors import MissingFact
from chaoslib.experiment.checks import Verdict, judged
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.faults import schedule
from chaoslib.faults.network import partition
from chaoslib.scenarios import common, facts, subscriptions
from chaoslib.scenarios.base import ScenarioRun, check


def step_of(run: ScenarioRun) -> str:
    return f"partition-{run.coordinator}"


def attempts_logged(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        run.pattern("redis_retry")
        step = step_of(run)
        at, healed = ctx.applied_at(step) or 0.0, ctx.healed_at(step) or 0.0
        n = len(facts.log_lines(ctx.history, run.coordinator, "redis_retry", at, healed + 0.5))
        return judged(n > 0, n, 1, "attempts", f"{n} reconnection attempts logged during the cut")

    return check("attempts", "Coordinator logs reconnection attempts", judge)


def resubscribed_logged(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        run.pattern("subscribed")
        return common.line_within(
            ctx, run.coordinator, "subscribed", ctx.healed_at(step_of(run)) or 0.0,
            run.limit("reconnect"),
            missing="never subscribed again after the cut",
            said=lambda line, took: f"'{facts.said(line)}' {took:g}s after the heal",
        )  # fmt: skip

    return check("resubscribed", "Coordinator logs its subscriptions re-established", judge)


def others_unaffected(run: ScenarioRun) -> Check:
    """A partial partition: the workers kept talking to Redis while the coordinator could not."""

    def judge(ctx: RunContext) -> Verdict:
        step = step_of(run)
        at, healed = ctx.applied_at(step) or 0.0, ctx.healed_at(step) or 0.0
        heard = {w: len(run.beats(ctx.history, w, at, healed)) for w in run.workers}
        cut = [
            s
            for s in run.services
            if s != run.coordinator
            and facts.log_lines(ctx.history, s, "redis_disconnected", at, healed)
        ]
        bad = [w for w, n in heard.items() if n == 0] + cut
        return judged(not bad, len(bad), 0, "services",
                      ", ".join(f"{w}: {n} heartbeats" for w, n in heard.items())
                      + (f"; also cut off: {', '.join(cut)}" if cut else ""))  # fmt: skip

    return check("partial", "Only the coordinator is cut off; the others keep working", judge)


def build(run: ScenarioRun) -> Experiment:
    coordinator, step = run.coordinator, step_of(run)
    names = run.system.links_to("redis", coordinator)
    if not names:
        raise MissingFact(f"link from {coordinator} to redis (links: client {coordinator})")
    exp = run.experiment("orchestrator-partition", observe_after=run.wait("recover"))
    exp.add(
        step,
        partition([run.system.link(n) for n in names]),
        schedule.once(0, run.wait("partition")),
    )
    exp.observers.append(subscriptions.Subscribers(run.system.direct["redis"], {}))
    exp.checks = [
        attempts_logged(run),
        common.backoff(run, step, [coordinator]),
        resubscribed_logged(run),
        subscriptions.resubscribed(run, step, [], coordinator=True),
        others_unaffected(run),
        common.message_loss(run),
        common.no_exits(run),
        common.back_to_steady(run),
    ]
    return exp
