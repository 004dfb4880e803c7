"""Facts read back from a scenario's history: heartbeats, log lines, deliveries, process states.

Heartbeats are read through the contract's paths (:class:`Beat`), log lines by the
pattern's key and its named groups: no check parses a system's wording itself.
"""

from __future__ import annotations

import re

from chaoslib.observe.history import Event, History
from chaoslib.profiles.contract import Beat, HeartbeatDef

HEARTBEATS = "hb"
ALERT_FILE = "alerts:file"


def beat(event: Event, hb: HeartbeatDef) -> Beat | None:
    return hb.read(event.value, event.t)


def beats(
    history: History,
    hb: HeartbeatDef,
    worker: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[Beat]:
    out = []
    for event in history.select(source=HEARTBEATS, kind="message", since=since, until=until):
        b = beat(event, hb)
        if b is not None and (worker is None or b.worker == worker):
            out.append(b)
    return out


def latest(found: list[Beat], t: float, fresh: float | None) -> dict[str, Beat]:
    """Each worker's last heartbeat at or before ``t``, no older than ``fresh`` seconds."""
    last: dict[str, Beat] = {}
    for b in found:
        if b.t <= t:
            last[b.worker] = b
    return {w: b for w, b in last.items() if fresh is None or t - b.t <= fresh}


def items_at(found: list[Beat], t: float, fresh: float | None) -> dict[str, frozenset[str]]:
    return {w: b.items for w, b in latest(found, t, fresh).items()}


def healthy(b: Beat, hb: HeartbeatDef) -> bool:
    """Healthy by the contract's status values; without them, every heartbeat counts."""
    return not (hb.status and hb.healthy) or b.status in hb.healthy


def steady_at(
    found: list[Beat], hb: HeartbeatDef, since: float, expected: set[str] | int, fresh: float
) -> float | None:
    """The first time after ``since`` when fresh heartbeats show every expected item on
    exactly one healthy worker, all heard after ``since``."""
    last: dict[str, Beat] = {}
    for b in found:
        if b.t < since:
            continue
        last[b.worker] = b
        current = [e for e in last.values() if b.t - e.t <= fresh]
        held = [i for e in current for i in e.items]
        whole = set(held) == expected if isinstance(expected, set) else len(set(held)) == expected
        if all(healthy(e, hb) for e in current) and len(held) == len(set(held)) and whole:
            return b.t
    return None


def broken_after(
    found: list[Beat], hb: HeartbeatDef, since: float, expected: set[str] | int, fresh: float
) -> tuple[float, str] | None:
    """After the steady state was reached at ``since``: the first heartbeat that shows it
    broken again (an item on two workers, or items missing), and what it showed."""
    last: dict[str, Beat] = {}
    for b in found:
        last[b.worker] = b
        if b.t <= since:
            continue
        current = [e for e in last.values() if b.t - e.t <= fresh]
        held = [i for e in current for i in e.items]
        doubled = sorted({i for i in held if held.count(i) > 1})
        if doubled:
            return b.t, f"{', '.join(doubled[:4])} on two workers"
        have = set(held)
        missing = sorted(expected - have) if isinstance(expected, set) else []
        if missing or (not isinstance(expected, set) and len(have) < expected):
            shown = ", ".join(missing[:4]) if missing else f"{expected - len(have)} items"
            return b.t, f"{shown} on no worker"
    return None


def overlaps(found: list[Beat], since: float, until: float, fresh: float) -> dict[str, list[str]]:
    """Items two workers reported at the same time (each heartbeat fresh), by item."""
    out: dict[str, list[str]] = {}
    last: dict[str, Beat] = {}
    for b in found:
        if not since <= b.t <= until:
            continue
        last[b.worker] = b
        owners: dict[str, list[str]] = {}
        for w, e in last.items():
            if b.t - e.t <= fresh:
                for item in e.items:
                    owners.setdefault(item, []).append(w)
        for item, workers in owners.items():
            if len(workers) > 1:
                out.setdefault(item, sorted(workers))
    return out


def log_lines(
    history: History,
    service: str | None,
    key: str,
    since: float | None = None,
    until: float | None = None,
) -> list[Event]:
    """Lines of ``service``'s log (any service's with None) that matched the named pattern.
    Only services' logs: the alert file's lines are deliveries, not what a service said."""
    want = f"log:{service}" if service is not None else None
    return [
        e
        for e in history.select(kind="log", since=since, until=until)
        if e.value == key and (e.source == want or (want is None and e.source.startswith("log:")))
    ]


def first_line(
    history: History, service: str | None, key: str, since: float | None = None
) -> Event | None:
    lines = log_lines(history, service, key, since)
    return lines[0] if lines else None


def group(line: Event, pattern: str, name: str) -> str | None:
    """A named group of the pattern that matched ``line``."""
    match = re.search(pattern, line.detail)
    return match.group(name) if match and name in match.groupdict() else None


def said(event: Event) -> str:
    """A log line without a leading timestamp and level: what the service said."""
    return re.sub(r"^\S+\s+[A-Z]+\s+", "", event.detail).strip()


def deliveries(
    history: History, field_name: str, alert: str, since: float | None = None
) -> list[Event]:
    """Webhook deliveries whose ``field_name`` names ``alert``."""
    out = []
    for e in history.select(kind="delivery", since=since):
        value = e.value.get(field_name, "") if isinstance(e.value, dict) else e.value
        if alert in str(value):
            out.append(e)
    return out


def file_alerts(history: History, key: str, since: float | None = None) -> list[Event]:
    """Lines of the alert file that named the alert ``key`` (observed as they were written)."""
    return [e for e in history.select(source=ALERT_FILE, kind="log", since=since) if e.value == key]


def downtime(history: History, service: str, since: float, until: float) -> list[Event]:
    """Samples in which ``service`` was observed down."""
    return [e for e in history.select(source=f"up:{service}", since=since, until=until) if not e.ok]
