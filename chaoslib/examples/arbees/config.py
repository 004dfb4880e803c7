"""Settings from the environment, with the chaos guide's names and defaults."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

FRAGILE_FLAGS = (
    "no-reconnect",
    "no-reassign",
    "no-zombie-cleanup",
    "no-db-retry",
    "sticky-restart",
    "no-alerts",
)


def _num(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number") from None


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def _fragile() -> frozenset[str]:
    flags = frozenset(f.strip() for f in os.environ.get("FRAGILE", "").split(",") if f.strip())
    unknown = flags - set(FRAGILE_FLAGS)
    if unknown:
        raise SystemExit(
            f"FRAGILE has unknown flags {sorted(unknown)}; accepted: {', '.join(FRAGILE_FLAGS)}"
        )
    return flags


@dataclass(frozen=True)
class Settings:
    service: str
    instance_id: str
    redis_url: str
    database_url: str
    reconnect_max_failures: int
    reconnect_base_delay_ms: float
    reconnect_max_delay_ms: float
    reconnect_jitter_pct: float
    alerts_enabled: bool
    slack_webhook_url: str
    alert_rate_limit_secs: float
    alert_log_path: str
    db_health_enabled: bool
    db_health_interval: float
    db_health_threshold: int
    db_pool_max: int
    db_pool_min: int
    db_write_timeout: float
    shard_timeout: float
    health_check_interval: float
    system_monitor_interval: float
    resync_debounce: float
    heartbeat_interval: float
    zombie_grace: float
    startup_grace: float
    game_count: int
    max_games: int
    poll_interval: float
    shard_id: str
    fragile: frozenset[str]

    def is_fragile(self, flag: str) -> bool:
        return flag in self.fragile

    @classmethod
    def from_env(cls, service: str) -> Settings:
        shard_id = os.environ.get("SHARD_ID", "")
        heartbeat = _num("HEARTBEAT_INTERVAL_SECS", 10)
        return cls(
            service=service,
            instance_id=shard_id or f"{service}-{socket.gethostname()}-{uuid.uuid4().hex[:6]}",
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            database_url=os.environ.get(
                "DATABASE_URL", "postgresql://arbees@127.0.0.1:5432/arbees_db"
            ),
            reconnect_max_failures=int(_num("REDIS_RECONNECT_MAX_FAILURES", 10)),
            reconnect_base_delay_ms=_num("REDIS_RECONNECT_BASE_DELAY_MS", 1000),
            reconnect_max_delay_ms=_num("REDIS_RECONNECT_MAX_DELAY_MS", 60000),
            reconnect_jitter_pct=_num("REDIS_RECONNECT_JITTER_PCT", 0.1),
            alerts_enabled=_flag("CRITICAL_ALERTS_ENABLED", True),
            slack_webhook_url=os.environ.get("SLACK_WEBHOOK_URL", ""),
            alert_rate_limit_secs=_num("ALERT_RATE_LIMIT_SECS", 300),
            alert_log_path=os.environ.get("ALERT_LOG_PATH", "critical_alerts.log"),
            db_health_enabled=_flag("DB_HEALTH_CHECK_ENABLED", True),
            db_health_interval=_num("DB_HEALTH_CHECK_INTERVAL_SECS", 30),
            db_health_threshold=int(_num("DB_HEALTH_ALERT_THRESHOLD", 3)),
            db_pool_max=int(_num("DB_POOL_MAX_CONNECTIONS", 20)),
            db_pool_min=int(_num("DB_POOL_MIN_CONNECTIONS", 5)),
            db_write_timeout=_num("DB_WRITE_TIMEOUT_SECS", 5),
            shard_timeout=_num("SHARD_TIMEOUT_SECS", 60),
            health_check_interval=_num("HEALTH_CHECK_INTERVAL_SECS", 5),
            system_monitor_interval=_num("SYSTEM_MONITOR_INTERVAL_SECS", 30),
            resync_debounce=_num("RESYNC_DEBOUNCE_SECS", 5),
            heartbeat_interval=heartbeat,
            zombie_grace=_num("ZOMBIE_GRACE_SECS", 2 * heartbeat),
            startup_grace=_num("STARTUP_GRACE_SECS", 2 * heartbeat),
            game_count=int(_num("GAME_COUNT", 12)),
            max_games=int(_num("MAX_GAMES", 10)),
            poll_interval=_num("GAME_POLL_INTERVAL_SECS", 1),
            shard_id=shard_id,
            fragile=_fragile(),
        )
