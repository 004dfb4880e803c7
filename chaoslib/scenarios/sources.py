"""State read from the source: the signal stream in Redis, the rows in PostgreSQL.

Log lines are evidence; these are the facts. Both read through the direct URLs,
which no fault touches.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
import redis

from chaoslib.observe.history import History
from chaoslib.scenarios import facts
from chaoslib.wait import WaitTimeout, wait_until


@dataclass(frozen=True)
class SignalLedger:
    """Per shard process: signals it counted as sent, and what the stream holds."""

    sent: int = 0
    lost: list[str] = field(default_factory=list)  # "shard_01#17"
    duplicated: list[str] = field(default_factory=list)
    consumer_behind: dict[str, int] = field(default_factory=dict)  # shard -> seqs not consumed

    def evidence(self) -> str:
        return (
            f"{self.sent} signals acknowledged to the shards; {len(self.lost)} missing from the "
            f"stream, {len(self.duplicated)} written twice; consumer behind by "
            f"{sum(self.consumer_behind.values())}"
            + (f"; lost e.g. {', '.join(self.lost[:5])}" if self.lost else "")
            + (f"; duplicated e.g. {', '.join(self.duplicated[:5])}" if self.duplicated else "")
        )


def signal_ledger(
    redis_url: str, stream: str, mark: str, history: History, drain_timeout: float = 5.0
) -> SignalLedger:
    """Compare each shard's acknowledged signal count (from its heartbeats) with the stream.

    ``mark`` is the key (with ``{shard}``) where the consumer keeps how far it read without a gap.
    """
    sent: dict[tuple[str, str], int] = {}
    for event in facts.heartbeats(history):
        metrics = event.value.get("metrics") or {}
        key = (event.value["shard_id"], event.value.get("process_id", ""))
        sent[key] = max(sent.get(key, 0), int(metrics.get("signals_sent", 0)))
    with redis.Redis.from_url(redis_url, socket_timeout=10) as r:
        seen: dict[tuple[str, str], Counter[int]] = {}
        for _id, fields in r.xrange(stream):
            key = (fields[b"shard"].decode(), fields.get(b"process", b"").decode())
            seen.setdefault(key, Counter())[int(fields[b"seq"])] += 1
        lost, duplicated = [], []
        for (shard, process), count in sent.items():
            present = seen.get((shard, process), Counter())
            lost += [f"{shard}#{seq}" for seq in range(1, count + 1) if seq not in present]
        for (shard, _process), present in seen.items():
            duplicated += [f"{shard}#{seq}" for seq, n in sorted(present.items()) if n > 1]
        behind = _consumer_behind(r, seen, mark, drain_timeout)
    return SignalLedger(sum(sent.values()), lost, duplicated, behind)


def _consumer_behind(
    r: redis.Redis, seen: dict[tuple[str, str], Counter[int]], mark: str, timeout: float
) -> dict[str, int]:
    """How far the consumer's contiguous mark is behind the stream, once it had time to drain."""
    targets: dict[str, int] = {}
    for (shard, _process), present in seen.items():
        targets[shard] = max(targets.get(shard, 0), max(present, default=0))

    def lag() -> dict[str, int]:
        behind = {s: top - int(r.get(mark.format(shard=s)) or 0) for s, top in targets.items()}
        return {s: n for s, n in behind.items() if n > 0}

    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: not lag(), timeout=timeout, interval=0.1, what="the consumer to drain")
    return lag()


def _ts(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


def row_times(url: str, games: list[str], since: float, until: float) -> dict[str, list[float]]:
    """Each game's ``game_states`` row times (epoch seconds) in a wall-clock window."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT game_id, extract(epoch FROM time) FROM game_states"
            " WHERE game_id = ANY(%s) AND time BETWEEN %s AND %s ORDER BY game_id, time",
            (games, _ts(since), _ts(until)),
        ).fetchall()
    out: dict[str, list[float]] = {g: [] for g in games}
    for game, epoch in rows:
        out[game].append(float(epoch))
    return out


def rows_of(url: str, shard: str, since_iso: str, until_iso: str) -> tuple[int, int]:
    """(rows, distinct rows) a shard wrote between two of its own timestamps."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (time, game_id)) FROM game_states"
            " WHERE shard_id = %s AND time >= %s::timestamptz AND time <= %s::timestamptz",
            (shard, since_iso, until_iso),
        ).fetchone()
    return int(total), int(distinct)


def rows_for(url: str, game: str, shard: str, since: float) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM game_states WHERE game_id = %s AND shard_id = %s AND time > %s",
            (game, shard, _ts(since)),
        ).fetchone()
    return int(n)
