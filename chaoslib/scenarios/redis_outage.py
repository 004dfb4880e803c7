"""Guide tests 1 and 8: Redis stops (or is killed under load) and comes back."""

from __future__ import annotations

from chaoslib import schedule
from chaoslib.checks import FAIL, PASS, UNKNOWN, Verdict, no_loss
from chaoslib.experiment import Check, Experiment, RunContext
from chaoslib.faults.service import ServiceFault
from chaoslib.observe import StreamWorkload, WorkloadResult
from chaoslib.scenarios import alerts, common, facts, sources
from chaoslib.scenarios.base import ScenarioRun, check

STEP = "redis"


def _redis_clients(run: ScenarioRun) -> list[str]:
    return [s.name for s in run.system.profile.services.values() if s.redis]


def _redis_fault(run: ScenarioRun, action: str) -> ServiceFault:
    return ServiceFault(run.system.stack_service("redis"), action, ledger=run.system.ledger)


def heartbeats_resume(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        healed = ctx.healed_at(STEP) or 0.0
        times: dict[str, float | None] = {}
        for shard in run.shards:
            beats = facts.heartbeats(ctx.history, shard, since=healed)
            times[shard] = beats[0].t - healed if beats else None
        return common.slowest(times, run.limit("reconnect"), "a heartbeat after the heal")

    return check("heartbeats_resume", "Heartbeats resume after reconnection", judge)


def redis_restart(run: ScenarioRun) -> Experiment:
    clients = _redis_clients(run)
    exp = run.experiment("redis-restart", observe_after=run.wait("recover"))
    exp.add(STEP, _redis_fault(run, "stop"), schedule.once(0, run.wait("redis_down")))
    exp.checks = [
        common.disconnect_logged(run, STEP, clients),
        common.reconnected(run, STEP, clients),
        common.backoff(run, STEP, clients),
        common.breaker(run, STEP, clients),
        heartbeats_resume(run),
        common.no_exits(run),
        common.message_loss(run),
        alerts.alert_delivered(run, "redis_connectivity_issue", STEP, "fault"),
        common.back_to_steady(run),
    ]
    return exp


def games_resume(run: ScenarioRun) -> Check:
    """Every game gets new rows in PostgreSQL after Redis is back: monitoring resumed."""

    def judge(ctx: RunContext) -> Verdict:
        healed = next((f.wall for f in ctx.faults if f.action == "heal"), None)
        if healed is None:
            return Verdict("", UNKNOWN, evidence="Redis was never healed")
        games = [f"game_{i:03d}" for i in range(1, common.total_games(run) + 1)]
        rows = sources.row_times(run.system.direct["postgres"], games, healed, healed + 3600)
        missing = sorted(g for g, times in rows.items() if not times)
        n = len(games) - len(missing)
        return Verdict(
            "",
            FAIL if missing else PASS,
            n,
            len(games),
            "games",
            f"no rows after the heal for {', '.join(missing[:6])}"
            if missing
            else f"all {n} games wrote rows after the heal",
        )

    return check("games_resume", "All games resume monitoring after recovery", judge)


def no_duplicate_assignments(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        end = ctx.history.snapshot()[-1].t if len(ctx.history) else 0.0
        found = facts.overlaps(ctx.history, ctx.started, end, common.fresh(run))
        return Verdict(
            "",
            FAIL if found else PASS,
            len(found),
            0,
            "games",
            "; ".join(f"{g} on {' and '.join(s)}" for g, s in list(found.items())[:5])
            or "no game was ever reported by two shards at once",
        )

    return check("no_duplicates", "No duplicate game assignments", judge)


def load_no_loss(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        return no_loss(WorkloadResult.from_history(ctx.history, "load"))

    return check("load_no_loss", "No message loss (acknowledged writes under load)", judge)


def load_failure(run: ScenarioRun) -> Experiment:
    clients = _redis_clients(run)
    exp = run.experiment("load-failure", observe_after=run.wait("recover"))
    exp.observers.append(
        StreamWorkload(run.system.direct["redis"], "chaoslib:load", name="load", interval=0.005)
    )
    exp.add(STEP, _redis_fault(run, "kill"), schedule.once(0, run.wait("redis_down")))
    exp.checks = [
        common.reconnected(run, STEP, clients),
        common.no_exits(run),
        games_resume(run),
        no_duplicate_assignments(run),
        common.message_loss(run),
        load_no_loss(run),
        common.back_to_steady(run),
    ]
    return exp
