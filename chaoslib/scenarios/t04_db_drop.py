"""Guide test 4: the database drops off the network; health checks see it, alert, recover."""

from __future__ import annotations

from chaoslib.experiment.checks import Verdict, failed, judged
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.faults import schedule
from chaoslib.faults.network import partition
from chaoslib.scenarios import alerts, common, facts, sources
from chaoslib.scenarios.base import ScenarioRun, check

STEP = "db"


def detected(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        run.pattern("db_health_failed")
        return common.line_within(
            ctx, run.coordinator, "db_health_failed", ctx.applied_at(STEP) or 0.0,
            run.limit("db_detect"),
            missing="no failed health check line",
            said=lambda line, took: f"first failed check {took:g}s after the cut: "
            f"{facts.said(line)[:90]}",
        )  # fmt: skip

    return check("db_detect", "Health check failures logged (attempt 1/3)", judge)


def degraded(run: ScenarioRun) -> Check:
    """During the outage every process lives and every worker keeps heartbeating."""

    def judge(ctx: RunContext) -> Verdict:
        at, healed = ctx.applied_at(STEP) or 0.0, ctx.healed_at(STEP) or 0.0
        silent = [w for w in run.workers if not run.beats(ctx.history, w, at + 0.5, healed)]
        down = [s for s in run.services if facts.downtime(ctx.history, s, at, healed)]
        marked = run.contract.heartbeat.degraded
        flagged = {b.worker for b in run.beats(ctx.history, None, at, healed) if b.status in marked}
        bad = silent + down
        return judged(not bad, len(bad), 0, "services",
                      (f"silent: {', '.join(silent)}; " if silent else "")
                      + (f"down: {', '.join(down)}; " if down else "")
                      + f"workers reporting degraded: {', '.join(sorted(flagged)) or 'none'}")  # fmt: skip

    return check("degraded", "Services continue running (degraded mode)", judge)


def recovered(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        limit = run.limit("recover")
        run.pattern("db_recovered")
        healed = ctx.healed_at(STEP) or 0.0
        line = facts.first_line(ctx.history, run.coordinator, "db_recovered", healed)
        healed_wall = next(f.wall for f in ctx.faults if f.action == "heal")
        first = min(f.t for f in ctx.faults)
        expected = {i for b in run.beats(ctx.history, until=first) for i in b.items}
        found = sources.rows(run.system.direct["postgres"], run.contract.state_rows, healed_wall,
                             healed_wall + 3600)  # fmt: skip
        writing = sum(1 for ts in sources.row_times(found, expected).values() if ts)
        if line is None:
            return failed(f"no recovery line; {writing} items wrote rows after", limit, "s")
        took = round(line.t - healed, 3)
        return judged(took <= limit and writing == len(expected), took, limit, "s",
                      f"recovered {took:g}s after the heal; {writing}/{len(expected)} items "
                      "wrote rows after")  # fmt: skip

    return check("db_recovered", "Health checks resume; recovery logged", judge)


def build(run: ScenarioRun) -> Experiment:
    exp = run.experiment("db-drop", observe_after=run.wait("recover"))
    links = [run.system.link(name) for name in run.system.links_to("postgres")]
    exp.add(STEP, partition(links), schedule.once(0, run.wait("db_down")))
    threshold = int(run.setting_or("db_alert_threshold", 0))
    exp.checks = [
        detected(run),
        # The alert is due at the threshold-th consecutive failed check.
        alerts.alert_delivered(run, "database_connectivity", STEP, "db_health_failed", threshold),
        alerts.alert_in_file(run, "database_connectivity"),
        degraded(run),
        recovered(run),
        common.no_exits(run),
        common.back_to_steady(run),
    ]
    return exp
