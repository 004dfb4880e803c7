"""An experiment file's ``packet`` faults: netem inside one container of a compose
project (docker mode only), range-checked per kind when the file is read.

    - {name: thin-pipe, type: packet, service: redis, kind: rate, value: 800, at: 0, for: 10}
"""

from __future__ import annotations

from typing import Any

from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.packet import KINDS, packet_fault
from chaoslib.faults.schedule import Window
from chaoslib.services.docker import DockerService
from chaoslib.yaml_lines import LineDict, Reader

PACKET_FIELDS = {"service", "kind", "value"}
NEEDS_CONTAINERS = (
    "type packet acts inside a container, so it needs docker mode: "
    "run with --profile and a profile that has a compose section (e.g. --profile compose)"
)


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
