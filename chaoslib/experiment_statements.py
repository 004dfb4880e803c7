"""Experiment-file faults whose rules live elsewhere: statements and packets.

Statements, ``pg_query`` and ``redis_command`` (chaoslib's proxy):

    - {name: slow-writes, type: pg_query, link: timescaledb, pattern: "INSERT INTO orders",
       delay_ms: 2000, at: 0, for: 10}

Packets, ``packet`` (inside one container of a compose project, docker mode only):

    - {name: thin-pipe, type: packet, service: redis, kind: rate, value: 800, at: 0, for: 10}

The attributes are checked with the proxy's (or the packet fault's) own rules
when the file is read, so a bad regex, SQLSTATE or range names its line before
anything runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.packet import KINDS, packet_fault
from chaoslib.proxy.errors import ApiError
from chaoslib.proxy.toxics import TOXIC_TYPES
from chaoslib.schedule import Window
from chaoslib.services.docker import DockerService
from chaoslib.yaml_lines import LineDict, Reader

STATEMENT_FAULTS = ("pg_query", "redis_command")
PACKET_FIELDS = {"service", "kind", "value"}
NEEDS_CONTAINERS = (
    "type packet acts inside a container, so it needs docker mode: "
    "run with --profile and a profile that has a compose section (e.g. --profile compose)"
)
_TYPES = {"int": int, "str": str, "list": list}


def fields(kind: str) -> set[str]:
    return {f.name for f in dataclasses.fields(TOXIC_TYPES[kind].Attributes)}


def read(r: Reader, item: LineDict, kind: str, ctx: str) -> dict[str, Any]:
    """The toxic's attributes from the fault entry, validated as the server would."""
    cls = TOXIC_TYPES[kind]
    attrs = {}
    for f in dataclasses.fields(cls.Attributes):
        value = r.get(item, f.name, _TYPES[f.metadata["kind"]], context=ctx)
        if value is not None:
            attrs[f.name] = value
    try:
        cls.parse_attributes(attrs)
    except ApiError as exc:
        raise r.fail(item, f"{ctx}.{kind}", exc.message) from None
    return attrs


def build(link: Any, kind: str, attrs: dict[str, Any]) -> Fault:
    if kind == "pg_query":
        return link.pg_query(attrs.pop("pattern", ""), **attrs)
    return link.redis_command(attrs.pop("commands", []), **attrs)


def read_packet(r: Reader, item: LineDict, ctx: str) -> tuple[str, str, float]:
    """``(service, kind, value)`` of a ``type: packet`` entry, range-checked per kind."""
    service = r.get(item, "service", str, required=True, context=ctx)
    kind = r.get(item, "kind", str, required=True, choices=tuple(KINDS), context=ctx)
    value = r.get(item, "value", (int, float), required=True, context=ctx)
    spec = KINDS[kind]
    if not 0 < value <= spec.high or (spec.integer and value != int(value)):
        raise r.fail(item, f"{ctx}.value", f"{value} is out of range for {kind}", spec.accepted())
    return service, kind, value


def build_packet(env: Any, packet: tuple[str, str, float], windows: list[Window]) -> Fault:
    """The packet fault on the environment's container; a ConfigError when it cannot be one."""
    name, kind, value = packet
    if env.kind != "compose":
        raise ConfigError(NEEDS_CONTAINERS)
    service = env.service(name)
    if not isinstance(service, DockerService):
        raise ConfigError(f"{name} is not a container; {NEEDS_CONTAINERS}")
    longest = max((w.duration for w in windows), default=0.0)  # what Pumba is told to hold
    return packet_fault(service, kind, value, duration=max(longest, 1.0), ledger=env.ledger)
