"""The chaos guide's nine tests as scenarios, in the guide's order."""

from __future__ import annotations

from chaoslib.errors import ConfigError
from chaoslib.scenarios import (
    t01_redis_restart,
    t02_shard_crash,
    t03_shard_restart,
    t04_db_drop,
    t05_all_shards_dead,
    t06_zombie_cleanup,
    t07_partition,
    t08_load_failure,
    t09_db_slow,
)
from chaoslib.scenarios.base import ScenarioRun, ScenarioSpec

SCENARIOS: dict[str, ScenarioSpec] = {
    spec.name: spec
    for spec in (
        ScenarioSpec(
            "redis-restart",
            1,
            "Redis Restart",
            "Services reconnect to Redis automatically, with no message loss",
            t01_redis_restart.build,
            ("no-reconnect", "no-alerts"),
        ),
        ScenarioSpec(
            "shard-crash",
            2,
            "Game Shard Crash",
            "Games are reassigned when a shard crashes",
            t02_shard_crash.build,
            ("no-reassign",),
        ),
        ScenarioSpec(
            "shard-restart",
            3,
            "Shard Restart & Resync",
            "A restart is detected and the shard's games are resynced",
            t03_shard_restart.build,
            ("sticky-restart",),
        ),
        ScenarioSpec(
            "db-drop",
            4,
            "Database Connection Drop",
            "Health checks detect the outage, alert, and see the recovery",
            t04_db_drop.build,
            ("no-alerts",),
        ),
        ScenarioSpec(
            "all-shards-dead",
            5,
            "All Shards Dead",
            "A critical alert when all game monitoring stops",
            t05_all_shards_dead.build,
            ("no-alerts",),
        ),
        ScenarioSpec(
            "zombie-cleanup",
            6,
            "Zombie Game Cleanup",
            "Orphaned games are removed from shards",
            t06_zombie_cleanup.build,
            ("no-zombie-cleanup",),
        ),
        ScenarioSpec(
            "orchestrator-partition",
            7,
            "Network Partition & Recovery",
            "The orchestrator alone loses Redis and recovers gracefully",
            t07_partition.build,
            ("no-reconnect",),
        ),
        ScenarioSpec(
            "load-failure",
            8,
            "High Load + Failure",
            "Fault tolerance under load: Redis killed with 10+ games running",
            t08_load_failure.build,
            ("no-reconnect",),
        ),
        ScenarioSpec(
            "db-slow",
            9,
            "Database Query Retry",
            "Retries carry writes through transient database failures",
            t09_db_slow.build,
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
