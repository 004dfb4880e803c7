"""Guide test 6: a stale item assignment injected on a worker is found and removed."""

from __future__ import annotations

import json

import redis

from chaoslib.errors import MissingFact
from chaoslib.experiment.checks import Verdict, failed, judged, unknown
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.faults import schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import LedgerEntry
from chaoslib.scenarios import common, facts, sources
from chaoslib.scenarios.base import ScenarioRun, check

STEP = "stale-item"


class StaleAssignment(Fault):
    """Tell ``worker`` to monitor an item the coordinator gave to ``owner``, with the
    contract's own command. Healing sends the remove command for it, so the stale state
    never outlives the run even when the system fails to clean it up."""

    def __init__(self, run: ScenarioRun, worker: str, owner: str) -> None:
        super().__init__(ledger=run.system.ledger)
        self.run, self.worker, self.owner = run, worker, owner
        self.item: str | None = None
        self.name = f"stale-item@{worker}"

    def describe(self) -> str:
        return f"inject a stale assignment of {self.item or 'an item'} on {self.worker}"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("stale_game", {"shard": self.worker}, self.describe())

    def _publish(self, kind: str) -> None:
        commands = self.run.contract.commands
        with redis.Redis.from_url(self.run.system.direct["redis"], socket_timeout=5) as r:
            r.publish(commands.channel.format(worker=self.worker),
                      json.dumps(commands.message(kind, self.item or "")))  # fmt: skip

    def _apply(self) -> None:
        interval = self.run.setting("heartbeat_interval")
        beats = self.run.system.heartbeats(timeout=10 * interval)
        found = beats.get(self.owner)
        owned = sorted(found.items) if found else []
        if not owned:
            raise RuntimeError(f"{self.owner} has no item to duplicate onto {self.worker}")
        self.item = owned[0]
        self._publish("add")

    def _heal(self) -> None:
        if self.item:
            self._publish("remove")


def zombie_removed(run: ScenarioRun, fault: StaleAssignment) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        limit, victim = run.limit("zombie"), run.victim
        item, at, healed = fault.item, ctx.applied_at(STEP), ctx.healed_at(STEP)
        if item is None or at is None or healed is None:
            return unknown("the stale item was never injected", limit, "s")
        found = run.beats(ctx.history, victim, since=at, until=healed)
        shown = [b for b in found if item in b.items]
        if not shown:
            return unknown(f"{victim} never reported {item}", limit, "s")
        gone = [b for b in found if b.t > shown[0].t and item not in b.items]
        detected = facts.first_line(ctx.history, run.coordinator, "zombie_detected", at)
        pattern = run.contract.log_patterns.get("zombie_removed", "")
        removed = [
            e
            for e in facts.log_lines(ctx.history, run.coordinator, "zombie_removed", at)
            if pattern and facts.group(e, pattern, "item") in (item, None)
        ]
        logs = (
            f"detection line {'seen' if detected else 'missing'}, "
            f"removal of {item} {'seen' if removed else 'missing'}"
        )
        if not gone:
            return failed(f"{victim} kept monitoring {item} for {healed - shown[0].t:.1f}s; {logs}",
                          limit, "s")  # fmt: skip
        took = round(gone[0].t - shown[0].t, 3)
        after = _wall(ctx, gone[0].t) + 2 * run.setting_or("item_poll_interval", 0)
        rows = [row for row in sources.rows(run.system.direct["postgres"], run.contract.state_rows,
                                            after, after + 3600)
                if row.item == item and row.worker == victim]  # fmt: skip
        declared = {"zombie_detected", "zombie_removed"} <= set(run.contract.log_patterns)
        ok = (
            took <= limit
            and not rows
            and (not declared or (detected is not None and bool(removed)))
        )
        return judged(ok, took, limit, "s",
                      f"{item} gone from {victim}'s heartbeat {took:g}s after it appeared; {logs}; "
                      f"{len(rows)} rows from {victim} for it afterwards")  # fmt: skip

    return check(
        "zombie", "Zombie item detected, remove command sent, worker stops monitoring it", judge
    )


def _wall(ctx: RunContext, t: float) -> float:
    """An experiment-clock time as wall-clock seconds, via the first fault's two stamps."""
    first = ctx.faults[0]
    return first.wall + (t - first.t)


def owner_keeps(run: ScenarioRun, fault: StaleAssignment) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        end = common.end_of(ctx)
        held = facts.items_at(run.beats(ctx.history), end, run.fresh()).get(
            run.survivor, frozenset()
        )
        keeps = fault.item in held
        return judged(keeps, int(keeps), 1, "items",
                      f"{run.survivor} {'still' if keeps else 'no longer'} monitors {fault.item}")  # fmt: skip

    return check("owner_keeps", "The rightful worker keeps the item", judge)


def build(run: ScenarioRun) -> Experiment:
    commands = run.contract.commands
    if not (commands.channel and commands.add_item and commands.remove_item):
        raise MissingFact("commands to add and remove an item (contract.commands)")
    exp = run.experiment("zombie-cleanup", observe_after=common.settle(run))
    fault = StaleAssignment(run, run.victim, run.survivor)
    exp.add(STEP, fault, schedule.once(0, run.wait("zombie")))
    exp.checks = [
        zombie_removed(run, fault),
        owner_keeps(run, fault),
        common.no_exits(run),
        common.back_to_steady(run),
    ]
    return exp
