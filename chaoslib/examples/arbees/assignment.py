"""The orchestrator's bookkeeping, as pure logic: heartbeats in, decisions out.

No I/O here: each method returns the commands to send and the lines to log,
so the rules (dead shards, reassignment, restarts, zombies) are tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaoslib.examples.arbees.config import Settings


@dataclass
class Shard:
    shard_id: str
    process_id: str
    started_at: str
    last_seen: float
    max_games: int
    reported: set[str] = field(default_factory=set)
    dead: bool = False


@dataclass(frozen=True)
class Command:
    shard_id: str
    payload: dict[str, Any]


@dataclass
class Decisions:
    commands: list[Command] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def extend(self, other: Decisions) -> Decisions:
        self.commands += other.commands
        self.logs += other.logs
        self.notifications += other.notifications
        return self


def add_game(shard_id: str, game_id: str) -> Command:
    return Command(shard_id, {"type": "add_game", "game_id": game_id, "sport": "nba"})


class Registry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.shards: dict[str, Shard] = {}
        self.assignments: dict[str, str] = {}  # game -> shard
        self.catalogue = [f"game_{i:03d}" for i in range(1, settings.game_count + 1)]
        self.zombie_since: dict[tuple[str, str], float] = {}
        self.assigned_at: dict[str, float] = {}
        self.resent_at: dict[str, float] = {}
        # Since when heartbeats could be heard. The caller owns the subscription and says when it
        # drops (deaf) and comes back (listening); until it says otherwise it is listening.
        self.listening_since: float | None = float("-inf")

    def listening(self, now: float) -> None:
        """The heartbeat subscription is up (again): a shard's silence counts from ``now``."""
        self.listening_since = now

    def deaf(self) -> None:
        """The heartbeat subscription is down: no shard can be heard, so none is judged."""
        self.listening_since = None

    def healthy(self) -> list[Shard]:
        return [s for s in self.shards.values() if not s.dead]

    def games_of(self, shard_id: str) -> list[str]:
        return sorted(g for g, s in self.assignments.items() if s == shard_id)

    # -- heartbeats ---------------------------------------------------------------------
    def heartbeat(self, hb: dict[str, Any], now: float) -> Decisions:
        out = Decisions()
        sid = str(hb["shard_id"])
        known = self.shards.get(sid)
        reported = set(hb.get("games") or [])
        if known is None:
            self.shards[sid] = Shard(
                sid, hb["process_id"], hb["started_at"], now, int(hb.get("max_games", 10)), reported
            )
            out.logs.append(f"Registered shard {sid}")
            return out
        restarted = (hb["process_id"], hb["started_at"]) != (known.process_id, known.started_at)
        known.last_seen, known.reported = now, reported
        if known.dead:
            known.dead = False
            out.logs.append(f"Service {sid} is alive again")
        if restarted:
            if not self.settings.is_fragile("sticky-restart"):
                known.process_id, known.started_at = hb["process_id"], hb["started_at"]
            games = self.games_of(sid)
            out.logs.append(f"Detected restart: {sid}")
            out.commands += [add_game(sid, g) for g in games]
            out.logs.append(f"Resync complete: {sid} ({len(games)} games)")
            out.notifications.append(
                (
                    "notifications:service_health",
                    {"type": "service_restarted", "service": sid, "instance_id": sid},
                )
            )
            out.notifications.append(
                (
                    "notifications:service_resync",
                    {
                        "type": "service_resync_complete",
                        "service": sid,
                        "instance_id": sid,
                        "games_resent": len(games),
                        "duration_ms": 0,
                    },
                )
            )
            self.resent_at[sid] = now
        elif not known.dead:
            out.extend(self._resend_missing(known, now))
        return out

    def _resend_missing(self, shard: Shard, now: float) -> Decisions:
        """Converge through heartbeats: commands are pub/sub and can be lost; resend what is missing."""
        out = Decisions()
        missing = [
            g
            for g in self.games_of(shard.shard_id)
            if g not in shard.reported
            and now - self.assigned_at.get(g, -1e9) > self.settings.resync_debounce
        ]
        if (
            missing
            and now - self.resent_at.get(shard.shard_id, -1e9) > self.settings.resync_debounce
        ):
            self.resent_at[shard.shard_id] = now
            out.logs.append(f"Resending {len(missing)} game assignments to shard {shard.shard_id}")
            out.commands += [add_game(shard.shard_id, g) for g in missing]
        return out

    # -- periodic checks ---------------------------------------------------------------
    def check_health(self, now: float) -> Decisions:
        out = Decisions()
        if self.listening_since is None:
            # The silence is the orchestrator's own outage, not the shards': after a 30 s Redis
            # outage its backoff can reconnect only at 60 s, and it marked every live shard Dead.
            return out
        for shard in self.shards.values():
            silent = now - max(shard.last_seen, self.listening_since)
            if not shard.dead and silent > self.settings.shard_timeout:
                shard.dead = True
                out.logs.append(f"Service {shard.shard_id} marked as Dead")
                out.notifications.append(
                    (
                        "notifications:service_health",
                        {"type": "service_dead", "service": shard.shard_id},
                    )
                )
                if not self.settings.is_fragile("no-reassign"):
                    out.extend(self._reassign_from(shard.shard_id, now))
        return out

    def _reassign_from(self, dead: str, now: float) -> Decisions:
        out = Decisions()
        for game in self.games_of(dead):
            target = self._pick(exclude=dead)
            if target is None:
                out.logs.append(f"No healthy shard has room for game {game}")
                continue
            self.assignments[game] = target
            self.assigned_at[game] = now
            out.logs.append(f"Reassigning game {game} from {dead} to {target}")
            out.commands.append(add_game(target, game))
        return out

    def _pick(self, exclude: str | None = None) -> str | None:
        candidates = [
            s
            for s in self.healthy()
            if s.shard_id != exclude and len(self.games_of(s.shard_id)) < s.max_games
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda s: (len(self.games_of(s.shard_id)), s.shard_id)).shard_id

    def assign_unassigned(self, now: float) -> Decisions:
        out = Decisions()
        for game in self.catalogue:
            if (
                self.assignments.get(game) in self.shards
                and not self.shards[self.assignments[game]].dead
            ):
                continue
            if game in self.assignments and self.settings.is_fragile("no-reassign"):
                continue  # stays with its dead shard
            target = self._pick()
            if target is None:
                break
            self.assignments[game] = target
            self.assigned_at[game] = now
            out.logs.append(f"Assigned game {game} to {target}")
            out.commands.append(add_game(target, game))
        return out

    def zombies(self, now: float) -> Decisions:
        """Games a shard reports that are not assigned to it, after a grace period."""
        out = Decisions()
        if self.settings.is_fragile("no-zombie-cleanup"):
            return out
        for shard in self.healthy():
            stale = sorted(
                g
                for g in shard.reported
                if self.assignments.get(g) != shard.shard_id
                and now - self.assigned_at.get(g, -1e9) > self.settings.zombie_grace
            )
            ripe = []
            for game in stale:
                first = self.zombie_since.setdefault((shard.shard_id, game), now)
                if now - first >= self.settings.zombie_grace:
                    ripe.append(game)
            if ripe:
                out.logs.append(f"Zombie games detected on shard {shard.shard_id}: {ripe}")
                for game in ripe:
                    out.logs.append(f"Removing zombie game {game}")
                    out.commands.append(
                        Command(shard.shard_id, {"type": "remove_game", "game_id": game})
                    )
                    self.zombie_since.pop((shard.shard_id, game), None)
        return out
