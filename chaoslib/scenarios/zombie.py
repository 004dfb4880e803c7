"""Guide test 6: a stale game assignment injected on a shard is found and removed."""

from __future__ import annotations

import json

import redis

from chaoslib import schedule
from chaoslib.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment import Check, Experiment, RunContext
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import LedgerEntry
from chaoslib.scenarios import common, facts, sources
from chaoslib.scenarios.base import ScenarioRun, check
from chaoslib.scenarios.shards import survivor, victim

STEP = "stale-game"


class StaleAssignment(Fault):
    """Tell ``shard`` to monitor a game the orchestrator gave to another shard.

    Healing sends ``remove_game`` for it, so the stale state never outlives
    the run even when the system under test fails to clean it up.
    """

    def __init__(self, run: ScenarioRun, shard: str, owner: str) -> None:
        super().__init__(ledger=run.system.ledger)
        self.run, self.shard, self.owner = run, shard, owner
        self.game: str | None = None
        self.name = f"stale-game@{shard}"

    def describe(self) -> str:
        return f"inject a stale assignment of {self.game or 'a game'} on {self.shard}"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("stale_game", {"shard": self.shard}, self.describe())

    def _publish(self, kind: str) -> None:
        channel = self.run.system.profile.contract.command_channel.format(id=self.shard)
        with redis.Redis.from_url(self.run.system.direct["redis"], socket_timeout=5) as r:
            r.publish(channel, json.dumps({"type": kind, "game_id": self.game, "sport": "nba"}))

    def _apply(self) -> None:
        beats = self.run.system.heartbeats(timeout=10 * self.run.env("HEARTBEAT_INTERVAL_SECS"))
        owned = sorted(beats.get(self.owner, {}).get("games") or [])
        if not owned:
            raise RuntimeError(f"{self.owner} has no game to duplicate onto {self.shard}")
        self.game = owned[0]
        self._publish("add_game")

    def _heal(self) -> None:
        if self.game:
            self._publish("remove_game")


def _zombie_check(run: ScenarioRun, fault: StaleAssignment) -> Check:
    limit = run.limit("zombie")

    def judge(ctx: RunContext) -> Verdict:
        game, at, healed = fault.game, ctx.applied_at(STEP), ctx.healed_at(STEP)
        if game is None or at is None or healed is None:
            return Verdict("", UNKNOWN, None, limit, "s", "the stale game was never injected")
        beats = facts.heartbeats(ctx.history, victim(run), since=at, until=healed)
        shown = [e for e in beats if game in facts.games(e)]
        if not shown:
            return Verdict("", UNKNOWN, None, limit, "s", f"{victim(run)} never reported {game}")
        gone = [e for e in beats if e.t > shown[0].t and game not in facts.games(e)]
        detected = facts.first_line(ctx.history, "orchestrator", "zombie_detected", at)
        removed = [
            e
            for e in facts.log_lines(ctx.history, "orchestrator", "zombie_removed", at)
            if game in e.detail
        ]
        logs = (
            f"'Zombie games detected' {'seen' if detected else 'missing'}, "
            f"'Removing zombie game {game}' {'seen' if removed else 'missing'}"
        )
        if not gone:
            return Verdict(
                "",
                FAIL,
                None,
                limit,
                "s",
                f"{victim(run)} kept monitoring {game} for {healed - shown[0].t:.1f}s; {logs}",
            )
        took = round(gone[0].t - shown[0].t, 3)
        rows = sources.rows_for(
            run.system.direct["postgres"],
            game,
            victim(run),
            _wall(ctx, gone[0].t) + 2 * run.env("GAME_POLL_INTERVAL_SECS"),
        )
        ok = took <= limit and detected is not None and bool(removed) and rows == 0
        return Verdict(
            "",
            PASS if ok else FAIL,
            took,
            limit,
            "s",
            f"{game} gone from {victim(run)}'s heartbeat {took:g}s after it appeared; {logs}; "
            f"{rows} rows from {victim(run)} for it afterwards",
        )

    return check(
        "zombie", "Zombie game detected, remove command sent, shard stops monitoring it", judge
    )


def _wall(ctx: RunContext, t: float) -> float:
    """An experiment-clock time as wall-clock seconds, via the first fault's two stamps."""
    first = ctx.faults[0]
    return first.wall + (t - first.t)


def _owner_keeps(run: ScenarioRun, fault: StaleAssignment) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        end = ctx.history.snapshot()[-1].t
        held = facts.games_at(ctx.history, end, common.fresh(run)).get(survivor(run), set())
        keeps = fault.game in held
        return Verdict(
            "",
            PASS if keeps else FAIL,
            int(keeps),
            1,
            "games",
            f"{survivor(run)} {'still' if keeps else 'no longer'} monitors {fault.game}",
        )

    return check("owner_keeps", "The rightful shard keeps the game", judge)


def zombie_cleanup(run: ScenarioRun) -> Experiment:
    exp = run.experiment("zombie-cleanup", observe_after=1.0)
    fault = StaleAssignment(run, victim(run), survivor(run))
    exp.add(STEP, fault, schedule.once(0, run.wait("zombie")))
    exp.checks = [
        _zombie_check(run, fault),
        _owner_keeps(run, fault),
        common.no_exits(run),
        common.back_to_steady(run),
    ]
    return exp
