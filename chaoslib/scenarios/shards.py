"""Guide tests 2 and 3: a shard crashes, a shard restarts."""

from __future__ import annotations

from chaoslib import schedule
from chaoslib.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment import Check, Experiment, RunContext
from chaoslib.faults.service import Restart, ServiceFault
from chaoslib.scenarios import common, facts, sources
from chaoslib.scenarios.base import ScenarioRun, check


def victim(run: ScenarioRun) -> str:
    """The shard the scenario stops: the profile's first."""
    return run.shards[0]


def survivor(run: ScenarioRun) -> str:
    """The shard expected to take over: the profile's second (none: nothing can take over)."""
    return run.shards[1] if len(run.shards) > 1 else "(no second shard)"


def _before(ctx: RunContext, run: ScenarioRun, step: str, shard: str) -> set[str]:
    at = ctx.applied_at(step) or 0.0
    return facts.games_at(ctx.history, at - 1e-3, common.fresh(run)).get(shard, set())


def _dead_line(ctx: RunContext, shard: str, since: float) -> float | None:
    for line in facts.log_lines(ctx.history, None, "marked_dead", since):
        if f"Service {shard} marked" in line.detail:
            return line.t
    return None


def marked_dead(run: ScenarioRun, step: str) -> Check:
    timeout, limit = run.env("SHARD_TIMEOUT_SECS"), run.limit("mark_dead")

    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(step) or 0.0
        dead = _dead_line(ctx, victim(run), at)
        if dead is None:
            return Verdict("", FAIL, None, limit, "s", f"{victim(run)} was never marked as Dead")
        took = round(dead - at, 3)
        # Earlier than the timeout minus one heartbeat would be a false positive.
        early = took < timeout - run.env("HEARTBEAT_INTERVAL_SECS")
        return Verdict(
            "",
            PASS if not early and took <= limit else FAIL,
            took,
            limit,
            "s",
            f"marked as Dead {took:g}s after it stopped (shard timeout {timeout:g}s)"
            + ("; too early: a false positive" if early else ""),
        )

    return check("mark_dead", f"Orchestrator marks shard as Dead after {timeout:g}s", judge)


def reassigned(run: ScenarioRun, step: str) -> Check:
    limit = run.limit("reassign")

    def judge(ctx: RunContext) -> Verdict:
        lost = _before(ctx, run, step, victim(run))
        dead = _dead_line(ctx, victim(run), ctx.applied_at(step) or 0.0)
        if not lost or dead is None:
            return Verdict(
                "",
                UNKNOWN,
                None,
                limit,
                "s",
                f"{victim(run)} had no games" if not lost else f"{victim(run)} never marked Dead",
            )
        received: dict[str, float] = {}
        for line in facts.log_lines(ctx.history, survivor(run), "add_game", dead):
            game = line.detail.split("add_game ", 1)[1].split()[0]
            received.setdefault(game, line.t)
        held = facts.games_at(ctx.history, ctx.healed_at(step) or dead, common.fresh(run))
        missing = sorted(lost - set(received) | lost - held.get(survivor(run), set()))
        moved = len(facts.log_lines(ctx.history, "orchestrator", "reassigning", dead))
        if missing:
            return Verdict(
                "",
                FAIL,
                None,
                limit,
                "s",
                f"{len(missing)} of {victim(run)}'s {len(lost)} games never reached {survivor(run)} "
                f"(e.g. {', '.join(missing[:4])}); {moved} 'Reassigning game' lines",
            )
        took = round(max(received[g] for g in lost) - dead, 3)
        return Verdict(
            "",
            PASS if took <= limit else FAIL,
            took,
            limit,
            "s",
            f"all {len(lost)} games on {survivor(run)} {took:g}s after the Dead mark "
            f"(its add_game lines and heartbeat); {moved} 'Reassigning game' lines",
            {"games": len(lost)},
        )

    return check("reassign", f"Games automatically reassigned to {survivor(run)}", judge)


def coverage(run: ScenarioRun, step: str) -> Check:
    """From the rows in PostgreSQL: the longest stretch a moved game went unmonitored."""
    limit = run.limit("mark_dead") + run.limit("reassign")

    def judge(ctx: RunContext) -> Verdict:
        lost = sorted(_before(ctx, run, step, victim(run)))
        applied = next((f.wall for f in ctx.faults if f.fault == step), None)
        healed = next((f.wall for f in ctx.faults if f.fault == step and f.action == "heal"), None)
        if not lost or applied is None or healed is None:
            return Verdict("", UNKNOWN, None, limit, "s", "no moved games to measure")
        rows = sources.row_times(run.system.direct["postgres"], lost, applied - 1, healed)
        gaps = {
            g: max(
                (b - a for a, b in zip([applied - 1, *ts], [*ts, healed], strict=False)), default=0
            )
            for g, ts in rows.items()
        }
        worst = max(gaps, key=gaps.__getitem__)
        gap = round(gaps[worst], 3)
        return Verdict(
            "",
            PASS if gap <= limit else FAIL,
            gap,
            limit,
            "s",
            f"longest gap between rows: {gap:g}s ({worst})",
        )

    return check("coverage", "No game monitoring gaps (rows in PostgreSQL)", judge)


def no_cascade(run: ScenarioRun, step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(step) or 0.0
        wrongly = _dead_line(ctx, survivor(run), at)
        return Verdict(
            "",
            FAIL if wrongly else PASS,
            1 if wrongly else 0,
            0,
            "shards",
            f"{survivor(run)} was marked Dead too"
            if wrongly
            else f"{survivor(run)} stayed healthy",
        )

    return check("no_cascade", "No cascading failures (the healthy shard stays healthy)", judge)


def shard_crash(run: ScenarioRun) -> Experiment:
    step = f"stop-{victim(run)}"
    exp = run.experiment("shard-crash", observe_after=1.0)
    exp.add(
        step,
        ServiceFault(run.system.service(victim(run)), "stop", ledger=run.system.ledger),
        schedule.once(0, run.wait("shard_timeout") + run.limit("reassign")),
    )
    exp.checks = [
        marked_dead(run, step),
        reassigned(run, step),
        coverage(run, step),
        no_cascade(run, step),
        common.no_exits(run, targeted=(victim(run),)),
        common.back_to_steady(run),
    ]
    return exp


def restart_detected(run: ScenarioRun, step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(step) or 0.0
        lines = [
            e
            for e in facts.log_lines(ctx.history, "orchestrator", "restart_detected", at - 5)
            if victim(run) in e.detail
        ]
        n = len(lines)
        evidence = {
            0: "no 'Detected restart' line: the restart went unnoticed",
            1: f"'{facts.said(lines[0]) if lines else ''}' once",
        }.get(
            n, f"'Detected restart: {victim(run)}' {n} times: every heartbeat looks like a restart"
        )
        return Verdict("", PASS if n == 1 else FAIL, n, 1, "detections", evidence)

    return check(
        "restart_detected", "Orchestrator detects restart (different process_id), once", judge
    )


def resynced(run: ScenarioRun, step: str) -> Check:
    limit = run.limit("resync")

    def judge(ctx: RunContext) -> Verdict:
        wanted = _before(ctx, run, step, victim(run))
        at = ctx.healed_at(step) or 0.0  # the new process is up
        beats = facts.heartbeats(ctx.history, victim(run), since=at)
        full = [e for e in beats if facts.games(e) >= wanted]
        if not wanted:
            return Verdict("", UNKNOWN, None, limit, "s", f"{victim(run)} had no games before")
        if not full:
            last = facts.games(beats[-1]) if beats else set()
            return Verdict(
                "",
                FAIL,
                None,
                limit,
                "s",
                f"{victim(run)} never got its {len(wanted)} games back (has {len(last)})",
            )
        fresh_start = full[0].value.get("metrics", {}).get("reconnects", 0) == 0
        took = round(full[0].t - at, 3)
        return Verdict(
            "",
            PASS if took <= limit and fresh_start else FAIL,
            took,
            limit,
            "s",
            f"all {len(wanted)} games back {took:g}s after the restart (heartbeat)"
            + ("" if fresh_start else "; reconnect counter did not start fresh"),
        )

    return check("resync", f"Games resynced within {limit:g}s; shard receives all its games", judge)


def shard_restart(run: ScenarioRun) -> Experiment:
    step = f"restart-{victim(run)}"
    exp = run.experiment("shard-restart", observe_after=run.wait("resync"))
    exp.add(
        step,
        Restart(run.system.service(victim(run)), ledger=run.system.ledger),
        schedule.once(0, 0.01),
    )
    exp.checks = [
        restart_detected(run, step),
        resynced(run, step),
        common.no_exits(run, targeted=(victim(run),)),
        common.back_to_steady(run),
    ]
    return exp
