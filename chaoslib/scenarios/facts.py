"""Facts read back from a scenario's history: heartbeats, log lines, deliveries, process states."""

from __future__ import annotations

import re
from typing import Any

from chaoslib.observe.history import Event, History
from chaoslib.scenarios.base import HEARTBEATS


def log_lines(
    history: History,
    service: str | None,
    key: str,
    since: float | None = None,
    until: float | None = None,
) -> list[Event]:
    """Lines of ``service``'s log (any service's with None) that matched the named pattern."""
    return [
        e
        for e in history.select(kind="log", since=since, until=until)
        if e.value == key and (service is None or e.source == f"log:{service}")
    ]


def first_line(
    history: History, service: str | None, key: str, since: float | None = None
) -> Event | None:
    lines = log_lines(history, service, key, since)
    return lines[0] if lines else None


def said(event: Event) -> str:
    """A log line without its timestamp and level: what the service said."""
    return re.sub(r"^\S+\s+[A-Z]+\s+", "", event.detail).strip()


def number(text: str, pattern: str) -> float | None:
    """The first group of ``pattern`` in ``text`` as a number."""
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None


def heartbeats(
    history: History,
    shard: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[Event]:
    return [
        e
        for e in history.select(source=HEARTBEATS, kind="message", since=since, until=until)
        if isinstance(e.value, dict) and (shard is None or e.value.get("shard_id") == shard)
    ]


def games(event: Event) -> set[str]:
    return set(event.value.get("games") or [])


def games_at(history: History, t: float, fresh: float | None = None) -> dict[str, set[str]]:
    """Each shard's games in its last heartbeat at or before ``t`` (no older than ``fresh`` s)."""
    latest: dict[str, Event] = {}
    for event in heartbeats(history, until=t):
        latest[event.value["shard_id"]] = event
    return {shard: games(e) for shard, e in latest.items() if fresh is None or t - e.t <= fresh}


def deliveries(history: History, alert: str, since: float | None = None) -> list[Event]:
    """Webhook deliveries whose text names ``alert`` (for example AllShardsUnhealthy)."""
    return [
        e
        for e in history.select(kind="delivery", since=since)
        if alert in str(e.value.get("text", "") if isinstance(e.value, dict) else e.value)
    ]


def downtime(history: History, service: str, since: float, until: float) -> list[Event]:
    """Samples in which ``service`` was observed down."""
    return [e for e in history.select(source=f"up:{service}", since=since, until=until) if not e.ok]


def steady_at(history: History, since: float, total: int, fresh: float) -> float | None:
    """The first time after ``since`` when fresh heartbeats show every game on exactly one
    healthy shard, all heard after ``since``."""
    latest: dict[str, Event] = {}
    for event in heartbeats(history, since=since):
        latest[event.value["shard_id"]] = event
        current = [e for e in latest.values() if event.t - e.t <= fresh]
        held = [g for e in current for g in games(e)]
        healthy = all(e.value.get("status") == "healthy" for e in current)
        if healthy and len(held) == len(set(held)) == total:
            return event.t
    return None


def overlaps(history: History, since: float, until: float, fresh: float) -> dict[str, list[str]]:
    """Games that two shards reported at the same time (each heartbeat fresh), by game."""
    found: dict[str, list[str]] = {}
    latest: dict[str, Event] = {}
    for event in heartbeats(history, since=since, until=until):
        latest[event.value["shard_id"]] = event
        owners: dict[str, list[str]] = {}
        for shard, e in latest.items():
            if event.t - e.t <= fresh:
                for game in games(e):
                    owners.setdefault(game, []).append(shard)
        for game, shards in owners.items():
            if len(shards) > 1:
                found.setdefault(game, sorted(shards))
    return found


def db_stats(event: Event) -> dict[str, Any]:
    return dict((event.value.get("metrics") or {}).get("db") or {})
