"""Running the reference system as real subprocesses against a real stack, for the tests."""

from __future__ import annotations

import sys
from pathlib import Path

from chaoslib.observe import History, channel
from chaoslib.services.process_service import ProcessService
from chaoslib.wait import wait_until
from tests.helpers import REPO

FAST = {
    "HEARTBEAT_INTERVAL_SECS": "0.25",
    "SHARD_TIMEOUT_SECS": "1.5",
    "HEALTH_CHECK_INTERVAL_SECS": "0.25",
    "SYSTEM_MONITOR_INTERVAL_SECS": "0.5",
    "DB_HEALTH_CHECK_INTERVAL_SECS": "0.25",
    "DB_HEALTH_ALERT_THRESHOLD": "3",
    "REDIS_RECONNECT_BASE_DELAY_MS": "100",
    "REDIS_RECONNECT_MAX_DELAY_MS": "1000",
    "ALERT_RATE_LIMIT_SECS": "300",
    "ZOMBIE_GRACE_SECS": "0.75",
    "RESYNC_DEBOUNCE_SECS": "0.75",
    "STARTUP_GRACE_SECS": "0.75",
    "GAME_POLL_INTERVAL_SECS": "0.25",
    "GAME_COUNT": "6",
    "MAX_GAMES": "6",
}

ALL_GAMES = {f"game_{i:03d}" for i in range(1, 7)}  # GAME_COUNT above


# What each service logs once it is wired up (it then keeps running on its own).
READY = {
    "orchestrator": r"Orchestrator starting",
    "shard": r"Shard \S+ starting",
    "signals": r"Subscribed to signals:stream|Failed to connect",
}


class System:
    """Orchestrator, shards and signal consumer as processes; heartbeats observed on Redis."""

    def __init__(self, workdir: Path, redis_url: str, database_url: str, **env: str) -> None:
        self.workdir = workdir
        self.env = {
            **FAST,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "ALERT_LOG_PATH": str(workdir / "critical_alerts.log"),
            **env,
        }
        self.procs: dict[str, ProcessService] = {}
        self.history = History()
        self.heartbeats = channel(redis_url, "shard:*:heartbeat", self.history, name="hb")

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(self, name: str, module: str, **env: str) -> ProcessService:
        proc = ProcessService(
            name,
            (sys.executable, "-m", f"chaoslib.examples.arbees.{module}"),
            self.log_path(name),
            env={**self.env, **env},
            cwd=REPO,
            ready_pattern=READY[module],
        )
        proc.start()
        self.procs[name] = proc
        return proc

    def shard(self, shard_id: str, **env: str) -> ProcessService:
        return self.start(shard_id, "shard", SHARD_ID=shard_id, **env)

    def log(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text() if path.exists() else ""

    def latest_games(self) -> dict[str, set[str]]:
        """Each shard's `games` from its most recent heartbeat."""
        games: dict[str, set[str]] = {}
        for event in self.history.select(source="hb", kind="message"):
            if isinstance(event.value, dict):
                games[event.value["shard_id"]] = set(event.value.get("games") or [])
        return games

    def __enter__(self) -> System:
        self.heartbeats.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            proc.stop(timeout=5)
        self.heartbeats.stop()


def running_system(tmp_path: Path, urls: tuple[str, str], **env: str) -> System:
    """Two shards and the orchestrator, every game assigned."""
    system = System(tmp_path, *urls, **env)
    system.__enter__()
    system.shard("shard_01")
    system.shard("shard_02")
    system.start("orchestrator", "orchestrator")
    wait_until(lambda: _spread(system), timeout=20, what="every game assigned")
    return system


def _spread(system: System) -> bool:
    games = system.latest_games()
    return (
        set(games) >= {"shard_01", "shard_02"}
        and set().union(*games.values()) == ALL_GAMES
        and all(games[s] for s in ("shard_01", "shard_02"))
    )
