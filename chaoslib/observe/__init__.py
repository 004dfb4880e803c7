"""Observers: probes, channels, logs, a webhook sink and workloads, all into one History."""

from chaoslib.observe.base import Observer, Probe
from chaoslib.observe.channel import ChannelObserver, channel
from chaoslib.observe.history import Event, History
from chaoslib.observe.logs import LogObserver, logs
from chaoslib.observe.probes import RedisPing, SqlProbe, TcpProbe, redis_ping, sql, tcp
from chaoslib.observe.webhook import WebhookSink, webhook_sink
from chaoslib.observe.workloads import (
    PostgresWorkload,
    PubSubWorkload,
    StreamWorkload,
    Workload,
    WorkloadResult,
)

__all__ = [
    "ChannelObserver",
    "Event",
    "History",
    "LogObserver",
    "Observer",
    "PostgresWorkload",
    "Probe",
    "PubSubWorkload",
    "RedisPing",
    "SqlProbe",
    "StreamWorkload",
    "TcpProbe",
    "WebhookSink",
    "Workload",
    "WorkloadResult",
    "channel",
    "logs",
    "redis_ping",
    "sql",
    "tcp",
    "webhook_sink",
]
