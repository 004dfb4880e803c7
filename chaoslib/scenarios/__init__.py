"""The chaos guide's nine tests as scenarios, in the guide's order."""

from __future__ import annotations

from chaoslib.errors import ConfigError
from chaoslib.scenarios import database, monitor, partition, redis_outage, shards, zombie
from chaoslib.scenarios.base import ScenarioRun, ScenarioSpec

SCENARIOS: dict[str, ScenarioSpec] = {
    spec.name: spec
    for spec in (
        ScenarioSpec(
            "redis-restart",
            1,
            "Redis Restart",
            "Services reconnect to Redis automatically, with no message loss",
            redis_outage.redis_restart,
            ("no-reconnect", "no-alerts"),
        ),
        ScenarioSpec(
            "shard-crash",
            2,
            "Game Shard Crash",
            "Games are reassigned when a shard crashes",
            shards.shard_crash,
            ("no-reassign",),
        ),
        ScenarioSpec(
            "shard-restart",
            3,
            "Shard Restart & Resync",
            "A restart is detected and the shard's games are resynced",
            shards.shard_restart,
            ("sticky-restart",),
        ),
        ScenarioSpec(
            "db-drop",
            4,
            "Database Connection Drop",
            "Health checks detect the outage, alert, and see the recovery",
            database.db_drop,
            ("no-alerts",),
        ),
        ScenarioSpec(
            "all-shards-dead",
            5,
            "All Shards Dead",
            "A critical alert when all game monitoring stops",
            monitor.all_shards_dead,
            ("no-alerts",),
        ),
        ScenarioSpec(
            "zombie-cleanup",
            6,
            "Zombie Game Cleanup",
            "Orphaned games are removed from shards",
            zombie.zombie_cleanup,
            ("no-zombie-cleanup",),
        ),
        ScenarioSpec(
            "orchestrator-partition",
            7,
            "Network Partition & Recovery",
            "The orchestrator alone loses Redis and recovers gracefully",
            partition.orchestrator_partition,
            ("no-reconnect",),
        ),
        ScenarioSpec(
            "load-failure",
            8,
            "High Load + Failure",
            "Fault tolerance under load: Redis killed with 10+ games running",
            redis_outage.load_failure,
            ("no-reconnect",),
        ),
        ScenarioSpec(
            "db-slow",
            9,
            "Database Query Retry",
            "Retries carry writes through a slow database",
            database.db_slow,
            ("no-db-retry",),
        ),
    )
}


def select(only: str | None) -> list[ScenarioSpec]:
    """``a,b`` by name, in the guide's order; None or empty: all nine."""
    if not only:
        return list(SCENARIOS.values())
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ConfigError(
            f"unknown scenario(s) {', '.join(unknown)}; choose from: {', '.join(SCENARIOS)}"
        )
    return [spec for name, spec in SCENARIOS.items() if name in names]


__all__ = ["SCENARIOS", "ScenarioRun", "ScenarioSpec", "select"]
