"""State read from the source: the signal stream and subscriptions in Redis, the rows in
PostgreSQL (through the contract's own query).

Log lines are evidence; these are the facts. All read through the direct URLs,
which no fault touches.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
import redis

from chaoslib.errors import MissingFact
from chaoslib.profiles.contract import SignalsDef
from chaoslib.scenarios.facts import Beat
from chaoslib.wait import WaitTimeout, wait_until


@dataclass(frozen=True)
class SignalLedger:
    """Per worker process: signals it counted as sent, and what the stream holds."""

    sent: int = 0
    lost: list[str] = field(default_factory=list)  # "worker#17"
    duplicated: list[str] = field(default_factory=list)
    consumer_behind: dict[str, int] = field(default_factory=dict)  # worker -> seqs not consumed

    def evidence(self) -> str:
        return (
            f"{self.sent} signals acknowledged to the workers; {len(self.lost)} missing from the "
            f"stream, {len(self.duplicated)} written twice; consumer behind by "
            f"{sum(self.consumer_behind.values())}"
            + (f"; lost e.g. {', '.join(self.lost[:5])}" if self.lost else "")
            + (f"; duplicated e.g. {', '.join(self.duplicated[:5])}" if self.duplicated else "")
        )


def signal_ledger(
    redis_url: str, signals: SignalsDef, beats: list[Beat], drain_timeout: float = 5.0
) -> SignalLedger:
    """Compare each worker's acknowledged signal count (from its heartbeats) with the stream."""
    sent: dict[tuple[str, str], int] = {}
    for b in beats:
        key = (b.worker, b.process)
        sent[key] = max(sent.get(key, 0), int(b.metric(signals.sent_metric) or 0))

    def text(fields: dict[bytes, bytes], name: str) -> str:
        return fields.get(name.encode(), b"").decode() if name else ""

    with redis.Redis.from_url(redis_url, socket_timeout=10) as r:
        seen: dict[tuple[str, str], Counter[int]] = {}
        for _id, fields in r.xrange(signals.stream):
            key = (text(fields, signals.worker_field), text(fields, signals.process_field))
            with contextlib.suppress(ValueError):
                seen.setdefault(key, Counter())[int(text(fields, signals.seq_field))] += 1
        lost, duplicated = [], []
        for (worker, process), count in sent.items():
            # Without a process field in the stream, a worker's processes share one count.
            present = seen.get((worker, process if signals.process_field else ""), Counter())
            lost += [f"{worker}#{seq}" for seq in range(1, count + 1) if seq not in present]
        for (worker, _process), present in seen.items():
            duplicated += [f"{worker}#{seq}" for seq, n in sorted(present.items()) if n > 1]
        behind = _consumer_behind(r, seen, signals.consumer_mark, drain_timeout)
    return SignalLedger(sum(sent.values()), lost, duplicated, behind)


def _consumer_behind(
    r: redis.Redis, seen: dict[tuple[str, str], Counter[int]], mark: str, timeout: float
) -> dict[str, int]:
    """How far the consumer's contiguous mark is behind the stream, once it had time to drain."""
    targets: dict[str, int] = {}
    for (worker, _process), present in seen.items():
        targets[worker] = max(targets.get(worker, 0), max(present, default=0))

    def lag() -> dict[str, int]:
        behind = {w: top - int(r.get(mark.format(worker=w)) or 0) for w, top in targets.items()}
        return {w: n for w, n in behind.items() if n > 0}

    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: not lag(), timeout=timeout, interval=0.1, what="the consumer to drain")
    return lag()


def _ts(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


@dataclass(frozen=True)
class Row:
    item: str
    worker: str
    at: float  # epoch seconds


def rows(url: str, query: str, since: float, until: float) -> list[Row]:
    """The contract's state-store rows written in a wall-clock window."""
    if not query:
        raise MissingFact("state store query (contract.state_store.rows)")
    with psycopg.connect(url, connect_timeout=5) as conn:
        found = conn.execute(query, {"since": _ts(since), "until": _ts(until)}).fetchall()
    return [Row(str(item), str(worker), float(at)) for item, worker, at, *_ in found]


def row_times(found: list[Row], items: list[str] | set[str]) -> dict[str, list[float]]:
    """Each item's row times, sorted."""
    out: dict[str, list[float]] = {i: [] for i in items}
    for row in found:
        if row.item in out:
            out[row.item].append(row.at)
    return {i: sorted(ts) for i, ts in out.items()}


def subscribers(redis_url: str, channels: list[str]) -> dict[str, int]:
    """PUBSUB NUMSUB: how many clients are subscribed to each channel."""
    with redis.Redis.from_url(redis_url, socket_timeout=5) as r:
        answer = r.pubsub_numsub(*channels)
    return {(c.decode() if isinstance(c, bytes) else str(c)): int(n) for c, n in answer}


def pattern_subscribers(redis_url: str, exclude_name: str) -> int:
    """Clients holding a pattern subscription, other than those named ``exclude_name``
    (chaoslib's own heartbeat observer): PUBSUB NUMPAT cannot tell them apart."""
    with redis.Redis.from_url(redis_url, socket_timeout=5) as r:
        clients = r.client_list()
    return sum(
        1 for c in clients if int(c.get("psub", 0)) > 0 and c.get("name", "") != exclude_name
    )
