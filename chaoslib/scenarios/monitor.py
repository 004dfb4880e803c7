"""Guide test 5: every shard dies; the system monitor notices, alerts once, keeps running."""

from __future__ import annotations

import statistics

from chaoslib import schedule
from chaoslib.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment import Check, Experiment, RunContext
from chaoslib.faults.service import ServiceFault
from chaoslib.scenarios import alerts, common, facts
from chaoslib.scenarios.base import ScenarioRun, check


def monitor_detects(run: ScenarioRun, first_step: str) -> Check:
    limit = run.limit("mark_dead") + run.env("SYSTEM_MONITOR_INTERVAL_SECS")

    def judge(ctx: RunContext) -> Verdict:
        return common.line_within(
            ctx, "orchestrator", "all_shards_unhealthy", ctx.applied_at(first_step) or 0.0, limit,
            missing="no 'All N game shards are unhealthy' line",
            said=lambda line, took: f"'{facts.said(line)}' {took:g}s after the shards stopped",
        )  # fmt: skip

    return check("monitor_detects", "System monitor detects all shards unhealthy", judge)


def rate_limited(run: ScenarioRun, first_step: str) -> Check:
    alert = run.alert_name("all_shards_unhealthy")

    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(first_step) or 0.0
        raised = len(facts.log_lines(ctx.history, "orchestrator", "all_shards_unhealthy", at))
        sent = len(facts.deliveries(ctx.history, alert, at))
        if not run.system.webhook_url:
            return Verdict(
                "", UNKNOWN, None, 1, "deliveries",
                "chaoslib's webhook sink is not reachable by this system "
                "(compose.webhook_port in the profile)",
            )  # fmt: skip
        if raised < 2:
            return Verdict(
                "",
                UNKNOWN,
                sent,
                1,
                "deliveries",
                f"the monitor raised it {raised} time(s); rate limiting needs two",
            )
        return Verdict(
            "",
            PASS if sent == 1 else FAIL,
            sent,
            1,
            "deliveries",
            f"raised {raised} times, delivered {sent} time(s) "
            f"(limit: one per {run.env('ALERT_RATE_LIMIT_SECS'):g}s)",
        )

    return check("rate_limit", "Alert rate limiting works", judge)


def monitor_interval(run: ScenarioRun, first_step: str) -> Check:
    every = run.env("SYSTEM_MONITOR_INTERVAL_SECS")

    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(first_step) or 0.0
        times = [
            e.t for e in facts.log_lines(ctx.history, "orchestrator", "all_shards_unhealthy", at)
        ]
        if len(times) < 2:
            return Verdict("", UNKNOWN, None, every, "s", f"{len(times)} monitor run(s) seen")
        measured = round(
            statistics.median(b - a for a, b in zip(times, times[1:], strict=False)), 3
        )
        tolerance = round(max(0.25 * every, 0.1), 3)
        return Verdict(
            "",
            PASS if abs(measured - every) <= tolerance else FAIL,
            measured,
            every,
            "s",
            f"{len(times)} runs, median interval {measured:g}s",
            {"tolerance": tolerance},
        )

    return check("monitor_interval", f"System monitor runs every {every:g}s", judge)


def all_shards_dead(run: ScenarioRun) -> Experiment:
    hold = run.wait("shard_timeout") + run.wait("monitor")
    exp = run.experiment("all-shards-dead", observe_after=1.0)
    steps = []
    for shard in run.shards:
        steps.append(f"stop-{shard}")
        exp.add(
            steps[-1],
            ServiceFault(run.system.service(shard), "stop", ledger=run.system.ledger),
            schedule.once(0, hold),
        )
    exp.checks = [
        monitor_detects(run, steps[0]),
        alerts.alert_delivered(run, "all_shards_unhealthy", steps[0], "all_shards_unhealthy"),
        alerts.alert_in_file(run, "all_shards_unhealthy"),
        rate_limited(run, steps[0]),
        monitor_interval(run, steps[0]),
        common.no_exits(run, targeted=tuple(run.shards)),
        common.back_to_steady(run),
    ]
    return exp
