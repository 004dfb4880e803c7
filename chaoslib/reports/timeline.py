"""A scenario's timeline from its journal: fault windows, per-service lanes, markers.

Lane states are as observed: ``down`` when the process (or server) was not
answering, ``degraded`` while it was up but cut off (reconnecting to Redis,
failing database checks, or a shard reporting itself degraded), else ``up``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chaoslib.experiment.journal import Journal
from chaoslib.observe.history import Event
from chaoslib.profiles.contract import HeartbeatDef

# log pattern key -> (state change it marks, the dependency)
_DEGRADE = {"redis_disconnected": ("on", "redis"), "redis_retry": ("on", "redis"),
            "redis_connected": ("off", "redis"), "db_health_failed": ("on", "db"),
            "db_recovered": ("off", "db")}  # fmt: skip
# log pattern key -> (marker kind, label)
_MARKERS = {
    "worker_dead": ("dead", "marked dead"),
    "reassigning": ("reassign", "reassign"),
    "restart_detected": ("restart", "restart detected"),
    "zombie_removed": ("reassign", "zombie removed"),
}


@dataclass(frozen=True)
class Segment:
    lane: str
    start: float
    end: float
    state: str  # up | degraded | down


@dataclass(frozen=True)
class Marker:
    t: float
    kind: str  # alert | reassign | restart | fault
    label: str


@dataclass(frozen=True)
class FaultWindow:
    name: str
    start: float
    end: float
    description: str


@dataclass(frozen=True)
class Timeline:
    start: float
    end: float
    windows: list[FaultWindow] = field(default_factory=list)
    lanes: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)


def _windows(journal: Journal, end: float) -> list[FaultWindow]:
    out, open_at = [], {}
    for f in sorted(journal.faults, key=lambda f: f.t):
        if f.action == "apply":
            open_at[f.fault] = (f.t, f.description)
        elif f.fault in open_at:
            start, description = open_at.pop(f.fault)
            out.append(FaultWindow(f.fault, start, f.t, description))
    out += [FaultWindow(name, s, end, d) for name, (s, d) in open_at.items()]
    return out


def _lane_order(events: list[Event]) -> list[str]:
    lanes = {e.source.removeprefix("up:") for e in events if e.source.startswith("up:")}
    stack = [n for n in ("redis", "postgres") if n in lanes]
    return stack + sorted(lanes - set(stack))


def _states(
    events: list[Event], lanes: list[str], heartbeat: HeartbeatDef | None
) -> list[tuple[float, str, str]]:
    """(t, lane, state) for every sample, with degradation folded in: a service that lost a
    dependency (its log), or a worker whose heartbeat says degraded (the contract's values)."""
    cut: dict[str, set[str]] = {lane: set() for lane in lanes}
    worker_degraded: dict[str, bool] = {}
    out = []
    for e in events:
        if e.kind == "log" and e.source.startswith("log:") and e.value in _DEGRADE:
            lane = e.source.removeprefix("log:")
            change, dependency = _DEGRADE[e.value]
            if lane in cut:
                (cut[lane].add if change == "on" else cut[lane].discard)(dependency)
        elif e.source == "hb" and e.kind == "message" and heartbeat is not None:
            beat = heartbeat.read(e.value, e.t)
            if beat is not None:
                worker_degraded[beat.worker] = beat.status in heartbeat.degraded
        elif e.source.startswith("up:"):
            lane = e.source.removeprefix("up:")
            state = "down" if not e.ok else "up"
            if state == "up" and (cut.get(lane) or worker_degraded.get(lane)):
                state = "degraded"
            out.append((e.t, lane, state))
    return out


def _segments(samples: list[tuple[float, str, str]], end: float) -> list[Segment]:
    current: dict[str, tuple[float, str]] = {}
    out = []
    for t, lane, state in samples:
        if lane not in current:
            current[lane] = (t, state)
        elif current[lane][1] != state:
            out.append(Segment(lane, current[lane][0], t, current[lane][1]))
            current[lane] = (t, state)
    out += [Segment(lane, s, end, state) for lane, (s, state) in current.items()]
    return out


def _markers(events: list[Event]) -> list[Marker]:
    out = []
    for e in events:
        if e.kind == "delivery":
            text = e.value.get("text", "") if isinstance(e.value, dict) else str(e.value)
            name = re.sub(r"^:[a-z_]+:\s*", "", text).split(":")[0].strip()
            out.append(Marker(e.t, "alert", f"alert {name[:40]}"))
        elif e.kind == "log" and e.value in _MARKERS:
            kind, label = _MARKERS[e.value]
            out.append(Marker(e.t, kind, label))
    return out


def build(journal: Journal, heartbeat: HeartbeatDef | None = None) -> Timeline:
    """``heartbeat``: the profile's, to read which worker reported itself degraded."""
    events = sorted(journal.events, key=lambda e: e.t)
    if not events:
        return Timeline(0.0, 1.0)
    start = events[0].t
    end = max(events[-1].t, start + 1e-3)
    lanes = _lane_order(events)
    return Timeline(
        start,
        end,
        _windows(journal, end),
        lanes,
        _segments(_states(events, lanes, heartbeat), end),
        _markers(events),
    )
