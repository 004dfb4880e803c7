"""The orchestrator: assigns games to shards, watches heartbeats, resyncs, cleans up, alerts.

REDIS_URL=... DATABASE_URL=... python -m chaoslib.examples.arbees.orchestrator
"""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio as aioredis
from loguru import logger

from chaoslib.examples.arbees import db, logs
from chaoslib.examples.arbees.alerts import Alerts
from chaoslib.examples.arbees.assignment import Decisions, Registry
from chaoslib.examples.arbees.config import Settings
from chaoslib.examples.arbees.reconnect import REDIS_ERRORS, RedisSession


class Orchestrator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry(settings)
        self.registry.deaf()  # until the heartbeat subscription is up
        self.alerts = Alerts(settings)
        self.session = RedisSession(settings)
        self.publisher: aioredis.Redis | None = None
        self.health: dict[str, bool] = {"db_ok": True}

    async def apply(self, decisions: Decisions) -> None:
        for line in decisions.logs:
            logger.info(line)
        if not decisions.commands and not decisions.notifications:
            return
        try:
            client = self.publisher or self.session.client()
            self.publisher = client
            for command in decisions.commands:
                await client.publish(
                    f"shard:{command.shard_id}:command", json.dumps(command.payload)
                )
            for channel, payload in decisions.notifications:
                await client.publish(channel, json.dumps(payload))
        except REDIS_ERRORS as exc:
            # Lost commands are repaired by the next resync or heartbeat comparison.
            logger.warning("could not publish {} commands: {}", len(decisions.commands), exc)
            self.publisher = None

    async def listen(self, client: aioredis.Redis) -> None:
        pubsub = client.pubsub()
        await pubsub.psubscribe("shard:*:heartbeat")
        logger.info("Subscribed to shard:*:heartbeat")
        self.registry.listening(time.monotonic())
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                try:
                    heartbeat = json.loads(message["data"])
                except (ValueError, TypeError):
                    logger.warning("ignoring a malformed heartbeat on {}", message.get("channel"))
                    continue
                await self.apply(self.registry.heartbeat(heartbeat, time.monotonic()))
        finally:
            self.registry.deaf()
            await pubsub.aclose()

    async def health_monitor(self) -> None:
        # Let shards that start together all register before games are handed out.
        await asyncio.sleep(self.settings.startup_grace)
        while True:
            await asyncio.sleep(self.settings.health_check_interval)
            now = time.monotonic()
            decisions = self.registry.check_health(now)
            decisions.extend(self.registry.assign_unassigned(now))
            decisions.extend(self.registry.zombies(now))
            await self.apply(decisions)

    async def system_monitor(self) -> None:
        while True:
            await asyncio.sleep(self.settings.system_monitor_interval)
            shards = self.registry.shards
            if shards and not self.registry.healthy():
                logger.error("All {} game shards are unhealthy", len(shards))
                await self.alerts.send(
                    "all_shards_unhealthy",
                    f"All {len(shards)} game shards are unhealthy",
                    shards=sorted(shards),
                )
            if not await self._redis_reachable():
                await self.alerts.send("redis_connectivity_issue", "Redis is unreachable")

    async def _redis_reachable(self) -> bool:
        client = self.session.client()
        try:
            await asyncio.wait_for(client.ping(), 2)
            return True
        except (TimeoutError, *REDIS_ERRORS):
            return False
        finally:
            await client.aclose()

    async def db_alert(self) -> None:
        await self.alerts.send(
            "database_connectivity_issue",
            f"{self.settings.db_health_threshold} consecutive database health checks failed",
        )

    async def run(self) -> None:
        logger.info(
            "Orchestrator starting: {} games, shard timeout {}s",
            len(self.registry.catalogue),
            self.settings.shard_timeout,
        )
        await db.ensure_schema(self.settings)
        await asyncio.gather(
            self.session.run("heartbeat listener", self.listen),
            self.health_monitor(),
            self.system_monitor(),
            db.health_loop(self.settings, self.db_alert, self.health),
        )


def main() -> None:
    settings = Settings.from_env("orchestrator")
    logs.setup("orchestrator")
    try:
        asyncio.run(Orchestrator(settings).run())
    except KeyboardInterrupt:
        logger.info("Orchestrator stopped")


if __name__ == "__main__":
    main()
