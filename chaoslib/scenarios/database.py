"""Guide tests 4 and 9: the database drops off the network, the database turns slow."""

from __future__ import annotations

from chaoslib import schedule
from chaoslib.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment import Check, Experiment, RunContext
from chaoslib.faults.network import partition
from chaoslib.observe.probes import sql
from chaoslib.scenarios import alerts, common, facts, sources
from chaoslib.scenarios.base import ScenarioRun, check

STEP = "db"


def detected(run: ScenarioRun) -> Check:
    limit = run.limit("db_detect")

    def judge(ctx: RunContext) -> Verdict:
        return common.line_within(
            ctx, "orchestrator", "db_health_failed", ctx.applied_at(STEP) or 0.0, limit,
            missing="no 'Database health check failed' line",
            said=lambda line, took: f"first failed check {took:g}s after the cut: "
            f"{facts.said(line)[:90]}",
        )  # fmt: skip

    return check(
        "db_detect",
        "Health check failures logged: Database health check failed (attempt 1/3)",
        judge,
    )


def degraded(run: ScenarioRun) -> Check:
    """During the outage every process lives and every shard keeps heartbeating."""

    def judge(ctx: RunContext) -> Verdict:
        at, healed = ctx.applied_at(STEP) or 0.0, ctx.healed_at(STEP) or 0.0
        silent = [s for s in run.shards if not facts.heartbeats(ctx.history, s, at + 0.5, healed)]
        down = [s for s in run.services if facts.downtime(ctx.history, s, at, healed)]
        flagged = {
            e.value["shard_id"]
            for e in facts.heartbeats(ctx.history, None, at, healed)
            if e.value.get("status") == "degraded"
        }
        bad = silent + down
        return Verdict(
            "",
            FAIL if bad else PASS,
            len(bad),
            0,
            "services",
            (f"silent: {', '.join(silent)}; " if silent else "")
            + (f"down: {', '.join(down)}; " if down else "")
            + f"shards reporting degraded: {', '.join(sorted(flagged)) or 'none'}",
        )

    return check("degraded", "Services continue running (degraded mode)", judge)


def recovered(run: ScenarioRun) -> Check:
    limit = run.limit("recover")

    def judge(ctx: RunContext) -> Verdict:
        healed = ctx.healed_at(STEP) or 0.0
        line = facts.first_line(ctx.history, "orchestrator", "db_recovered", healed)
        healed_wall = next(f.wall for f in ctx.faults if f.action == "heal")
        games = [f"game_{i:03d}" for i in range(1, common.total_games(run) + 1)]
        rows = sources.row_times(
            run.system.direct["postgres"], games, healed_wall, healed_wall + 3600
        )
        writing = sum(1 for ts in rows.values() if ts)
        if line is None:
            return Verdict(
                "",
                FAIL,
                None,
                limit,
                "s",
                f"no 'Database connection recovered' line; {writing} games wrote rows after",
            )
        took = round(line.t - healed, 3)
        ok = took <= limit and writing == len(games)
        return Verdict(
            "",
            PASS if ok else FAIL,
            took,
            limit,
            "s",
            f"recovered {took:g}s after the heal; {writing}/{len(games)} games wrote rows after",
        )

    return check(
        "db_recovered",
        "Health checks resume; recovery logged: Database connection recovered",
        judge,
    )


def db_drop(run: ScenarioRun) -> Experiment:
    exp = run.experiment("db-drop", observe_after=run.wait("recover"))
    links = [run.system.link(name) for name in run.system.links_to("postgres")]
    exp.add(STEP, partition(links), schedule.once(0, run.wait("db_down")))
    threshold = int(run.env("DB_HEALTH_ALERT_THRESHOLD"))
    exp.checks = [
        detected(run),
        # The alert is due at the threshold-th consecutive failed check.
        alerts.alert_delivered(
            run,
            "database_connectivity_issue",
            STEP,
            "db_health_failed",
            rf"\(attempt {threshold}/{threshold}\)",
        ),
        alerts.alert_in_file(run, "database_connectivity_issue"),
        degraded(run),
        recovered(run),
        common.no_exits(run),
        common.back_to_steady(run),
    ]
    return exp


def _stats(ctx: RunContext, run: ScenarioRun) -> dict[str, int]:
    """Summed over shards: the database write counters in their last heartbeat."""
    total: dict[str, int] = {}
    for shard in run.shards:
        beats = facts.heartbeats(ctx.history, shard)
        for key, value in (facts.db_stats(beats[-1]) if beats else {}).items():
            total[key] = total.get(key, 0) + int(value)
    return total


def retry_rate(run: ScenarioRun) -> Check:
    goal = run.limit("retry_success_pct")

    def judge(ctx: RunContext) -> Verdict:
        stats = _stats(ctx, run)
        retried_ok, failed = stats.get("writes_retried_ok", 0), stats.get("writes_failed", 0)
        at = min((f.t for f in ctx.faults), default=0.0)
        logged = len(facts.log_lines(ctx.history, None, "db_retry", at))
        if retried_ok + failed == 0:
            return Verdict(
                "", UNKNOWN, None, goal, "%", "no write needed a retry: the fault was too mild"
            )
        rate = round(100.0 * retried_ok / (retried_ok + failed), 1)
        return Verdict(
            "",
            PASS if rate >= goal else FAIL,
            rate,
            goal,
            "%",
            f"{retried_ok} writes succeeded after a retry, {failed} gave up; "
            f"{logged} 'Retrying in Xms' lines",
            {"stats": stats},
        )

    return check(
        "retry_rate", "Retry logged (Retrying in Xms) and the operation succeeds after retry", judge
    )


def stats_tracked(run: ScenarioRun) -> Check:
    """Every shard reports its write statistics, and they counted the retries this fault caused."""

    def judge(ctx: RunContext) -> Verdict:
        at = min((f.t for f in ctx.faults), default=0.0)
        reporting, retries = [], 0
        for shard in run.shards:
            before = facts.heartbeats(ctx.history, shard, until=at)
            after = facts.heartbeats(ctx.history, shard, since=at)
            if after and "writes_ok" in facts.db_stats(after[-1]):
                reporting.append(shard)
                old = facts.db_stats(before[-1]) if before else {}
                new = facts.db_stats(after[-1])
                for key in ("retries", "writes_failed"):
                    retries += int(new.get(key, 0)) - int(old.get(key, 0))
        ok = len(reporting) == len(run.shards) and retries > 0
        return Verdict(
            "",
            PASS if ok else FAIL,
            len(reporting),
            len(run.shards),
            "shards",
            f"{len(reporting)} shards report write statistics in their heartbeats; "
            f"{retries} retries and failed writes counted during the fault",
        )

    return check("db_stats", "Connection pool statistics tracked (heartbeat metrics)", judge)


def writes_kept(run: ScenarioRun) -> Check:
    """Every write a shard counted as done is a row: acknowledged count vs rows, per shard."""

    def judge(ctx: RunContext) -> Verdict:
        lost, dup, acked = 0, 0, 0
        for shard in run.shards:
            beats = facts.heartbeats(ctx.history, shard)
            if not beats:
                continue
            hb = beats[-1].value
            ok = int(facts.db_stats(beats[-1]).get("writes_ok", 0))
            rows, distinct = sources.rows_of(
                run.system.direct["postgres"], shard, hb["started_at"], hb["timestamp"]
            )
            acked += ok
            lost += max(0, ok - distinct)
            dup += rows - distinct
        if not acked:
            return Verdict("", UNKNOWN, None, 0, "rows", "no write was acknowledged")
        return Verdict(
            "",
            FAIL if lost else PASS,
            lost,
            0,
            "rows",
            f"{acked} writes acknowledged, {lost} missing from game_states; "
            f"{dup} written twice (a timed-out attempt that did commit)",
        )

    return check("writes_kept", "No data loss (acknowledged writes are rows)", judge)


WRITES = "INSERT INTO game_states"  # the shards' writes; the health check's SELECT 1 is not one
SELECT_PROBE = "db-slow:select"


def scope_verdict(stats: dict[str, int], samples: list[float], latency: float) -> Verdict:
    """Matching statements delayed (the toxic's count) against non-matching ones delayed
    (a SELECT 1 probe through the same proxy that took at least half the delay)."""
    matched, passed = stats.get("matched", 0), stats.get("passed", 0)
    slow = [took for took in samples if took >= latency / 2]
    if not samples or not matched:
        return Verdict(
            "", UNKNOWN, None, 0, "statements",
            f"{matched} matching writes delayed, {len(samples)} SELECT probes: too few to compare",
        )  # fmt: skip
    return Verdict(
        "",
        FAIL if slow else PASS,
        len(slow),
        0,
        "statements",
        f"{matched} matching writes delayed by {latency:g}s; {passed} other statements passed; "
        f"{len(slow)} of {len(samples)} SELECT 1 probes delayed "
        f"(slowest {max(samples) * 1000:.0f} ms)",
    )


def slow_scoped(run: ScenarioRun, faults: list, latency: float) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        stats: dict[str, int] = {}
        for fault in faults:
            for key, value in fault.stats.items():
                stats[key] = stats.get(key, 0) + value
        at, healed = (
            ctx.applied_at(f"{STEP}:{faults[0].proxy}") or 0.0,
            ctx.healed_at(f"{STEP}:{faults[0].proxy}") or 0.0,
        )
        # By when each probe began: one held by the fault ends only at the heal.
        samples = [
            float(e.value)
            for e in ctx.history.select(SELECT_PROBE, since=at)
            if e.ok and e.value is not None and at <= e.t - float(e.value) <= healed
        ]
        return scope_verdict(stats, samples, latency)

    return check(
        "db_slow_scoped",
        "Only the matching statements were slow (pg_query): writes delayed, SELECT 1 not",
        judge,
    )


def db_slow(run: ScenarioRun) -> Experiment:
    exp = run.experiment("db-slow", observe_after=run.wait("recover"))
    latency = int(run.wait("db_latency") * 1000)
    links = run.system.links_to("postgres")
    scoped = run.system.toxiproxy.supports(links[0], "pg_query")
    faults = []
    for name in links:
        link = run.system.link(name)
        # With chaoslib's proxy only the writes turn slow; Toxiproxy slows everything.
        fault = (
            link.pg_query(WRITES, delay_ms=latency)
            if scoped
            else link.latency(latency, direction="both")
        )
        faults.append(fault)
        exp.add(f"{STEP}:{name}", fault, schedule.once(0, run.wait("db_slow")))
    exp.checks = [
        retry_rate(run),
        writes_kept(run),
        stats_tracked(run),
        common.no_exits(run),
        common.back_to_steady(run),
    ]
    url = run.system.probe_url(links[0])
    if scoped and url:  # the comparison needs a probe through the same proxy
        exp.observers.append(sql(url, name=SELECT_PROBE, interval=0.1, deadline=5.0))
        exp.checks.insert(0, slow_scoped(run, faults, latency / 1000))
    return exp
