"""The contract: every fact about the system under test that a scenario reads.

Roles, the heartbeat's shape, the command channel, the items, the state store,
the signal stream, the alert sinks and the log patterns. chaoslib's scenarios
know none of a system's names: each comes from here, and a fact the profile
does not declare makes the checks that need it *unknown*, with the missing key
named (see ``docs/profile.md`` for the reference table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# The log patterns a scenario looks for, and the named groups its checks read from them.
LOG_PATTERNS: dict[str, tuple[str, ...]] = {
    "redis_disconnected": (),
    "redis_retry": ("attempt", "delay_ms", "delay_s"),
    "redis_connected": ("reconnects",),
    "circuit_open": ("failures",),
    "subscribed": (),
    "worker_dead": ("worker",),
    "reassigning": ("item", "to"),
    "item_added": ("item",),
    "restart_detected": ("worker",),
    "resync_complete": ("worker", "count"),
    "zombie_detected": ("worker",),
    "zombie_removed": ("item",),
    "db_health_failed": ("attempt", "threshold"),
    "db_recovered": (),
    "db_retry": ("attempt", "delay_ms", "delay_s"),
    "db_retry_ok": (),
    "db_gave_up": (),
    "all_workers_unhealthy": (),
    "alert_raised": (),
    "alert_rate_limited": (),
    "error": (),
    "crash": (),
}
# Where a heartbeat's optional counters sit; the checks that read each are in docs/profile.md.
METRICS = (
    "reconnects",
    "signals_sent",
    "writes_ok",
    "writes_retried_ok",
    "writes_failed",
    "retries",
)
ALERTS = ("all_workers_unhealthy", "redis_connectivity", "database_connectivity")
FILE_FORMATS = ("text", "jsonl")


@dataclass(frozen=True)
class Roles:
    coordinator: str = ""  # the service that assigns items and watches the workers
    workers: tuple[str, ...] = ()
    victim: str = ""  # the worker the shard scenarios stop or restart
    survivor: str = ""  # the worker expected to take over the victim's items


def dig(payload: Any, path: str) -> Any:
    """The value at a dotted path of a JSON payload; None where it is missing."""
    for part in path.split("."):
        if isinstance(payload, dict):
            payload = payload.get(part)
        elif isinstance(payload, list) and part.isdigit() and int(part) < len(payload):
            payload = payload[int(part)]
        else:
            return None
    return payload


@dataclass(frozen=True)
class Beat:
    """One heartbeat, in the contract's terms."""

    t: float
    worker: str
    items: frozenset[str]
    process: str = ""
    status: str = ""
    started: str = ""
    sent: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def metric(self, key: str) -> float | None:
        return self.metrics.get(key)


@dataclass(frozen=True)
class HeartbeatDef:
    """Where each fact sits in a heartbeat's JSON payload (dotted paths)."""

    channel: str = ""  # a PSUBSCRIBE pattern
    worker: str = ""
    items: str = ""
    process: str = ""  # changes when the worker's process restarts
    status: str = ""
    healthy: tuple[str, ...] = ()  # values of ``status`` that mean healthy
    degraded: tuple[str, ...] = ()
    started: str = ""  # ISO time the process started
    sent: str = ""  # ISO time the heartbeat was sent
    metrics: dict[str, str] = field(default_factory=dict)  # METRICS key -> dotted path

    def read(self, payload: Any, t: float = 0.0) -> Beat | None:
        """The heartbeat in the contract's terms; None if it names no worker."""
        if not isinstance(payload, dict) or not self.worker:
            return None
        worker = dig(payload, self.worker)
        if worker is None:
            return None
        items = dig(payload, self.items) if self.items else None
        metrics = {}
        for key, path in self.metrics.items():
            value = dig(payload, path)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[key] = float(value)

        def text(path: str) -> str:
            value = dig(payload, path) if path else None
            return "" if value is None else str(value)

        return Beat(
            t,
            str(worker),
            frozenset(str(i) for i in items) if isinstance(items, list) else frozenset(),
            text(self.process),
            text(self.status),
            text(self.started),
            text(self.sent),
            metrics,
        )


@dataclass(frozen=True)
class CommandsDef:
    """How to tell a worker to take or drop an item: a channel (``{worker}``) and JSON
    message templates whose string values may hold ``{item}``."""

    channel: str = ""
    add_item: dict[str, Any] = field(default_factory=dict)
    remove_item: dict[str, Any] = field(default_factory=dict)

    def message(self, kind: str, item: str) -> dict[str, Any]:
        template = self.add_item if kind == "add" else self.remove_item
        return {
            k: v.replace("{item}", item) if isinstance(v, str) else v for k, v in template.items()
        }


@dataclass(frozen=True)
class SignalsDef:
    """A stream the workers append sequence-numbered messages to, and its consumer's mark."""

    stream: str = ""
    worker_field: str = ""
    process_field: str = ""
    seq_field: str = ""
    consumer_mark: str = ""  # key with ``{worker}``: how far the consumer read without a gap
    sent_metric: str = "signals_sent"  # the heartbeat metric counting acknowledged sends


@dataclass(frozen=True)
class AlertDef:
    webhook: str = ""  # the name a webhook delivery carries
    file: str = ""  # the name an alert file line carries


@dataclass(frozen=True)
class AlertSinks:
    webhook_field: str = ""  # a delivery names the alert when this JSON field contains it
    file_format: str = ""  # text: a line containing ``file_match``; jsonl: ``file_field`` equals
    file_match: str = "{name}"
    file_field: str = ""

    def file_pattern(self, name: str) -> str:
        """A regex for the alert file's line that names ``name``."""
        if self.file_format == "jsonl":
            return rf'"{re.escape(self.file_field)}"\s*:\s*"{re.escape(name)}"'
        return re.escape(self.file_match.replace("{name}", name))


@dataclass(frozen=True)
class Contract:
    roles: Roles = field(default_factory=Roles)
    heartbeat: HeartbeatDef = field(default_factory=HeartbeatDef)
    commands: CommandsDef = field(default_factory=CommandsDef)
    items: tuple[str, ...] = ()  # listed; empty: discovered from the heartbeats
    state_rows: str = ""  # SQL: (item, worker, epoch seconds) rows between %(since)s, %(until)s
    state_writes: str = ""  # a regex matching the workers' writes (and not their reads)
    signals: SignalsDef = field(default_factory=SignalsDef)
    alerts: dict[str, AlertDef] = field(default_factory=dict)
    sinks: AlertSinks = field(default_factory=AlertSinks)
    log_patterns: dict[str, str] = field(default_factory=dict)

    def groups(self, key: str) -> set[str]:
        """The named groups of a declared log pattern."""
        pattern = self.log_patterns.get(key)
        return set(re.compile(pattern).groupindex) if pattern else set()
