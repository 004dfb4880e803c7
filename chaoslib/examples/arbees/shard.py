"""A game shard: heartbeats, takes add_game/remove_game, monitors games into the database.

SHARD_ID=shard_01 REDIS_URL=... DATABASE_URL=... python -m chaoslib.examples.arbees.shard
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from datetime import UTC, datetime

import redis.asyncio as aioredis
from loguru import logger

from chaoslib.examples.arbees import db, logs
from chaoslib.examples.arbees.config import Settings
from chaoslib.examples.arbees.reconnect import REDIS_ERRORS, RedisSession

SIGNAL_STREAM = "signals:stream"
SIGNAL_LAST = "signals:last"  # hash: "{shard}:{process}" -> the highest seq on the stream
VERSION = "0.1.0"

# A write whose reply was lost (a restart between XADD and its answer) is sent
# again, by redis-py's own retry or by the next poll. Checking the writer's last
# seq in the same script makes the resend a no-op instead of a duplicate.
SEND_SIGNAL = """
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
return 1
"""


class GameShard:
    def __init__(self, settings: Settings) -> None:
        if not settings.shard_id:
            raise SystemExit("SHARD_ID is required, for example SHARD_ID=shard_01")
        self.settings = settings
        self.id = settings.shard_id
        self.process_id = str(uuid.uuid4())
        self.started_at = datetime.now(UTC).isoformat()
        self.games: dict[str, dict[str, object]] = {}
        self.session = RedisSession(settings)
        self.writer = db.Writer(settings)
        self.seq = 0
        self.rng = random.Random()
        # Heartbeats wait for the command subscription: a restart's resync is
        # sent on the first heartbeat, and pub/sub drops what nobody hears.
        self.listening = asyncio.Event()

    def heartbeat(self) -> dict[str, object]:
        return {
            "shard_id": self.id,
            "shard_type": "sports",
            "game_count": len(self.games),
            "max_games": self.settings.max_games,
            "games": sorted(self.games),
            "timestamp": datetime.now(UTC).isoformat(),
            "started_at": self.started_at,
            "process_id": self.process_id,
            "version": VERSION,
            "status": "healthy" if self.writer.ok else "degraded",
            "checks": {"redis_ok": self.session.connected.is_set(), "db_ok": self.writer.ok},
            "metrics": {
                "signals_sent": self.seq,
                "reconnects": self.session.total_reconnects,
                "pid": os.getpid(),
                "db": dict(self.writer.stats),
            },
        }

    async def publish_heartbeats(self, client: aioredis.Redis) -> None:
        while True:
            await self.listening.wait()
            await client.publish(f"shard:{self.id}:heartbeat", json.dumps(self.heartbeat()))
            await asyncio.sleep(self.settings.heartbeat_interval)

    async def listen_commands(self, client: aioredis.Redis) -> None:
        pubsub = client.pubsub()
        channel = f"shard:{self.id}:command"
        await pubsub.subscribe(channel)
        logger.info("Subscribed to {}", channel)
        self.listening.set()
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    self.handle(message["data"])
        finally:
            self.listening.clear()
            await pubsub.aclose()

    def handle(self, raw: bytes | str) -> None:
        try:
            command = json.loads(raw)
            kind, game = command["type"], str(command["game_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed command: {!r}", raw)
            return
        if kind == "add_game":
            if game not in self.games:  # idempotent: resyncs resend every game
                self.games[game] = {"home": 0, "away": 0, "period": 1}
            logger.info("add_game {} (now {} games)", game, len(self.games))
        elif kind == "remove_game":
            self.games.pop(game, None)
            logger.info("remove_game {} (now {} games)", game, len(self.games))

    async def monitor_games(self) -> None:
        """Per poll: one game_states row per game, and a sequence-numbered signal on the stream."""
        stream_client: aioredis.Redis | None = None
        while True:
            await asyncio.sleep(self.settings.poll_interval)
            for game, state in list(self.games.items()):
                state["home"] = int(state["home"]) + self.rng.randint(0, 2)
                await self.writer.write(
                    "INSERT INTO game_states (time, game_id, sport, home_score, away_score, period, status, shard_id)"
                    " VALUES (%s, %s, 'nba', %s, %s, %s, 'live', %s)",
                    (db.now(), game, state["home"], state["away"], state["period"], self.id),
                )
            if not self.games:
                continue
            try:
                stream_client = stream_client or self.session.client()
                self.seq += 1
                fields = {"shard": self.id, "process": self.process_id, "seq": self.seq,
                          "games": len(self.games)}  # fmt: skip
                await stream_client.eval(
                    SEND_SIGNAL, 2, SIGNAL_STREAM, SIGNAL_LAST,
                    f"{self.id}:{self.process_id}", self.seq,
                    *(str(x) for pair in fields.items() for x in pair),
                )  # fmt: skip
            except REDIS_ERRORS:
                self.seq -= 1  # not sent; the same number goes out next time
                stream_client = None

    async def run(self) -> None:
        logger.info("Shard {} starting (process {})", self.id, self.process_id)
        await db.ensure_schema(self.settings)
        await asyncio.gather(
            self.session.run("heartbeats", self.publish_heartbeats),
            self.session.run("command listener", self.listen_commands),
            self.monitor_games(),
        )


def main() -> None:
    settings = Settings.from_env("game_shard")
    logs.setup(f"game_shard {settings.shard_id}")
    try:
        asyncio.run(GameShard(settings).run())
    except KeyboardInterrupt:
        logger.info("Shard stopped")


if __name__ == "__main__":
    main()
