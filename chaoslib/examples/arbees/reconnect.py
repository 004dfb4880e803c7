"""Redis resilience: exponential backoff with jitter, a circuit breaker, and counted reconnects.

Every service runs its Redis work through :meth:`RedisSession.run`: when the
connection drops, it logs, reconnects with backoff, and runs the work again
(which resubscribes). Nothing exits on a transient fault.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chaoslib.examples.arbees.config import Settings

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError, ConnectionError)


def backoff_ms(attempt: int, settings: Settings, rng: random.Random) -> float:
    """base · 2^(attempt-1), capped, ± jitter: 1 s → 2 s → 4 s → 8 s … with the seed's defaults."""
    delay = min(
        settings.reconnect_base_delay_ms * 2 ** (attempt - 1), settings.reconnect_max_delay_ms
    )
    jitter = delay * settings.reconnect_jitter_pct
    return max(0.0, delay + rng.uniform(-jitter, jitter))


class RedisSession:
    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()
        self.total_reconnects = 0
        self.failures = 0
        self.breaker_open = False
        self.connected = asyncio.Event()

    def client(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.settings.redis_url,
            socket_connect_timeout=2,
            socket_timeout=None,
            health_check_interval=0,
            retry_on_timeout=False,
        )

    async def connect(self) -> aioredis.Redis:
        """Connect, retrying with backoff; the breaker opens after MAX_FAILURES in a row."""
        while True:
            client = self.client()
            try:
                await asyncio.wait_for(client.ping(), 3)
                if self.breaker_open:
                    logger.info("Circuit breaker CLOSED")
                    self.breaker_open = False
                self.failures = 0
                logger.info("Successfully connected (total reconnects: {})", self.total_reconnects)
                self.connected.set()
                return client
            except (TimeoutError, *REDIS_ERRORS) as exc:
                await client.aclose()
                self.failures += 1
                if self.failures >= self.settings.reconnect_max_failures and not self.breaker_open:
                    self.breaker_open = True
                    logger.error(
                        "Circuit breaker OPENED after {} consecutive failures", self.failures
                    )
                # An open breaker waits the longest delay (the cool-off), then tries once more.
                delay = (
                    self.settings.reconnect_max_delay_ms
                    if self.breaker_open
                    else backoff_ms(self.failures, self.settings, self.rng)
                )
                # A tenth of a ms, so that fast mode's 100 ms delays show their jitter: at
                # whole ms, three ±10% draws can land within the rounding of the curve.
                logger.warning(
                    "Failed to connect (attempt {}): {}. Retrying in {:.1f}ms",
                    self.failures,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay / 1000)

    async def run(self, name: str, work: Callable[[aioredis.Redis], Awaitable[None]]) -> None:
        """Run ``work`` with a connected client, forever, reconnecting when Redis drops."""
        first = True
        while True:
            if not first:
                if self.settings.is_fragile("no-reconnect"):
                    # The real defect: the task ends quietly and the process lives on, deaf.
                    logger.error(
                        "{}: Redis connection lost; not reconnecting (FRAGILE=no-reconnect)", name
                    )
                    return
                self.total_reconnects += 1
            first = False
            client = await self.connect()
            try:
                await work(client)
                return
            except REDIS_ERRORS as exc:
                self.connected.clear()
                logger.warning("Redis disconnected, reconnecting... ({}: {})", name, exc)
            finally:
                await client.aclose()
