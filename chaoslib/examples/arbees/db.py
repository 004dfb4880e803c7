"""The database: schema, writes retried with tenacity, and the health-check loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from loguru import logger
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from chaoslib.examples.arbees.config import Settings

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS game_states (time timestamptz NOT NULL, game_id text NOT NULL, sport text,
       home_score int, away_score int, period int, status text, shard_id text)""",
    """CREATE TABLE IF NOT EXISTS paper_trades (time timestamptz NOT NULL, trade_id text NOT NULL, game_id text,
       market_id text, side text, entry_price double precision, size double precision, status text)""",
]


async def connect(settings: Settings) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(
        settings.database_url, autocommit=True, connect_timeout=2
    )


async def ensure_schema(settings: Settings) -> bool:
    """Create the tables (hypertables when TimescaleDB is there); False if the database is away."""
    try:
        async with await connect(settings) as conn:
            for statement in SCHEMA:
                await conn.execute(statement)
            ext = await (
                await conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
            ).fetchone()
            if ext:
                for table in ("game_states", "paper_trades"):
                    await conn.execute(
                        f"SELECT create_hypertable('{table}', 'time', if_not_exists => TRUE)"
                    )
        return True
    except psycopg.Error as exc:
        logger.warning("schema not created yet: {}", exc)
        return False


def _log_retry(state: RetryCallState) -> None:
    delay_ms = (state.next_action.sleep if state.next_action else 0) * 1000
    logger.warning(
        "Database write failed (attempt {}): {}. Retrying in {:.0f}ms",
        state.attempt_number,
        state.outcome.exception() if state.outcome else "?",
        delay_ms,
    )


class Writer:
    """Writes through one connection, reconnecting, with retries unless FRAGILE=no-db-retry."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn: psycopg.AsyncConnection | None = None
        self.ok = True
        self.schema_ready = False
        # Pool statistics, reported in every heartbeat.
        self.stats = {"writes_ok": 0, "writes_retried_ok": 0, "writes_failed": 0, "retries": 0}

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        if not self.schema_ready:
            # The database may have been away when the service started: create the tables first.
            self.schema_ready = await ensure_schema(self.settings)
        if self.conn is None or self.conn.closed:
            self.conn = await asyncio.wait_for(connect(self.settings), 5)
        try:
            await asyncio.wait_for(self.conn.execute(sql, params), self.settings.db_write_timeout)
        except (psycopg.Error, TimeoutError):
            await self.conn.close()
            self.conn = None
            raise

    async def write(self, sql: str, params: tuple[Any, ...]) -> bool:
        attempts = 1 if self.settings.is_fragile("no-db-retry") else 5
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
                reraise=True,
                before_sleep=_log_retry,
                retry=retry_if_exception_type((psycopg.Error, TimeoutError, OSError)),
                wait=wait_exponential(multiplier=0.1, max=2),
            ):
                with attempt:
                    await self._execute(sql, params)
            tries = attempt.retry_state.attempt_number
            self.ok = True
            self.stats["writes_ok"] += 1
            self.stats["retries"] += tries - 1
            if tries > 1:
                self.stats["writes_retried_ok"] += 1
                logger.info("Database write succeeded on attempt {}", tries)
            return True
        except (psycopg.Error, TimeoutError, OSError) as exc:
            self.ok = False
            self.stats["writes_failed"] += 1
            logger.error("Database write gave up after {} attempt(s): {}", attempts, exc)
            return False


async def health_loop(
    settings: Settings, on_threshold: Callable[[], Awaitable[None]], state: dict[str, Any]
) -> None:
    """SELECT 1 every DB_HEALTH_CHECK_INTERVAL_SECS; alert once per outage at the threshold."""
    failures = 0
    while settings.db_health_enabled:
        try:
            async with await asyncio.wait_for(connect(settings), 5) as conn:
                await asyncio.wait_for(conn.execute("SELECT 1"), 5)
            if failures:
                logger.info("Database connection recovered after {} failed checks", failures)
            failures = 0
            state["db_ok"] = True
        except (psycopg.Error, TimeoutError, OSError) as exc:
            failures += 1
            state["db_ok"] = False
            logger.warning(
                "Database health check failed (attempt {}/{}): {}",
                failures,
                settings.db_health_threshold,
                exc,
            )
            if failures == settings.db_health_threshold:
                await on_threshold()
        await asyncio.sleep(settings.db_health_interval)


def now() -> datetime:
    return datetime.now(UTC)
