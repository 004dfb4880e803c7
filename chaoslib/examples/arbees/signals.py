"""The signal consumer: reads the shards' signal stream in a consumer group, with acks.

It keeps, per shard, the highest sequence number up to which every signal
arrived (``signals:contiguous:{shard}`` in Redis), which the loss checker reads.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import ResponseError

from chaoslib.examples.arbees import logs
from chaoslib.examples.arbees.config import Settings
from chaoslib.examples.arbees.reconnect import RedisSession
from chaoslib.examples.arbees.shard import SIGNAL_STREAM

GROUP = "signal_processor"


class SignalConsumer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = RedisSession(settings)
        self.seen: dict[str, set[int]] = {}
        self.contiguous: dict[str, int] = {}

    def accept(self, shard: str, seq: int) -> bool:
        """Record one signal; True if it moved the shard's contiguous mark."""
        mark = self.contiguous.get(shard, 0)
        if seq <= mark:
            return False  # a redelivery of something already counted
        seen = self.seen.setdefault(shard, set())
        seen.add(seq)
        moved = False
        while mark + 1 in seen:
            mark += 1
            seen.discard(mark)
            moved = True
        self.contiguous[shard] = mark
        return moved

    async def consume(self, client: aioredis.Redis) -> None:
        with contextlib.suppress(ResponseError):  # the group may exist already
            await client.xgroup_create(SIGNAL_STREAM, GROUP, id="0", mkstream=True)
        logger.info("Subscribed to {} as group {}", SIGNAL_STREAM, GROUP)
        start = "0"  # first re-read whatever was delivered but not acknowledged
        while True:
            try:
                reply = await client.xreadgroup(
                    GROUP, self.settings.instance_id, {SIGNAL_STREAM: start}, count=100, block=1000
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # A Redis without persistence came back empty: the group is gone, make it again.
                logger.warning(
                    "Consumer group {} is gone (Redis restarted empty); recreating it", GROUP
                )
                with contextlib.suppress(ResponseError):
                    await client.xgroup_create(SIGNAL_STREAM, GROUP, id="0", mkstream=True)
                start = "0"
                continue
            entries = reply[0][1] if reply else []
            if start == "0" and not entries:
                start = ">"
                continue
            for entry_id, fields in entries:
                shard, seq = fields[b"shard"].decode(), int(fields[b"seq"])
                if self.accept(shard, seq):
                    await client.set(f"signals:contiguous:{shard}", self.contiguous[shard])
                await client.xack(SIGNAL_STREAM, GROUP, entry_id)

    async def run(self) -> None:
        await self.session.run("signal consumer", self.consume)


def main() -> None:
    settings = Settings.from_env("signal_processor")
    logs.setup("signal_processor")
    try:
        asyncio.run(SignalConsumer(settings).run())
    except KeyboardInterrupt:
        logger.info("Signal consumer stopped")


if __name__ == "__main__":
    main()
