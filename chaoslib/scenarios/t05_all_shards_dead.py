"""Guide test 5: every worker dies; the coordinator's monitor notices, alerts once, keeps running."""

from __future__ import annotations

import statistics

from chaoslib.experiment.checks import Verdict, judged, unknown
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.faults import schedule
from chaoslib.faults.service import ServiceFault
from chaoslib.scenarios import alerts, common, facts
from chaoslib.scenarios.base import ScenarioRun, check

CONDITION = "all_workers_unhealthy"
RUNS = 3  # monitor runs needed to measure its interval (two intervals)


def monitor_detects(run: ScenarioRun, first_step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        run.pattern(CONDITION)
        limit = run.limit("mark_dead") + run.setting("monitor_interval")
        return common.line_within(
            ctx, run.coordinator, CONDITION, ctx.applied_at(first_step) or 0.0, limit,
            missing="no 'all workers unhealthy' line",
            said=lambda line, took: f"'{facts.said(line)}' {took:g}s after the workers stopped",
        )  # fmt: skip

    return check("monitor_detects", "System monitor detects all workers unhealthy", judge)


def monitor_interval(run: ScenarioRun, first_step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        every = run.setting("monitor_interval")
        run.pattern(CONDITION)
        at = ctx.applied_at(first_step) or 0.0
        times = [e.t for e in facts.log_lines(ctx.history, run.coordinator, CONDITION, at)]
        if len(times) < RUNS:
            return unknown(f"{len(times)} monitor run(s) seen; measuring the interval needs "
                           f"{RUNS}", every, "s")  # fmt: skip
        measured = round(
            statistics.median(b - a for a, b in zip(times, times[1:], strict=False)), 3
        )
        tolerance = round(max(0.25 * every, 0.1), 3)
        return judged(abs(measured - every) <= tolerance, measured, every, "s",
                      f"{len(times)} runs, median interval {measured:g}s",
                      {"tolerance": tolerance})  # fmt: skip

    every = run.setting_or("monitor_interval", 0)
    return check("monitor_interval", f"System monitor runs every {every:g}s", judge)


def hold(run: ScenarioRun) -> float:
    """Past the worker timeout (and one heartbeat for the coordinator to notice), long enough
    for the monitor to run ``RUNS`` times, with half an interval to spare."""
    every = run.setting("monitor_interval")
    timeout = max(run.wait("shard_timeout"),
                  run.setting("worker_timeout") + run.setting("heartbeat_interval"))  # fmt: skip
    return max(run.wait("shard_timeout") + run.wait("monitor"), timeout + (RUNS + 0.5) * every)


def build(run: ScenarioRun) -> Experiment:
    exp = run.experiment("all-shards-dead", observe_after=common.settle(run))
    steps = []
    for worker in run.workers:
        steps.append(f"stop-{worker}")
        fault = ServiceFault(run.system.service(worker), "stop", ledger=run.system.ledger)
        exp.add(steps[-1], fault, schedule.once(0, hold(run)))
    exp.checks = [
        monitor_detects(run, steps[0]),
        alerts.alert_delivered(run, "all_workers_unhealthy", steps[0], CONDITION),
        alerts.alert_in_file(run, "all_workers_unhealthy"),
        alerts.rate_limited(run, "all_workers_unhealthy", steps[0], CONDITION),
        monitor_interval(run, steps[0]),
        common.no_exits(run, targeted=tuple(run.workers)),
        common.back_to_steady(run),
    ]
    return exp
