"""What chaoslib reads off a compose project without changing it: published ports, the
host's bridge address, and which variables its images come from."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from chaoslib.services.docker import DockerService


def bridge_gateway(client: Any) -> str:
    """The host's address on docker's default bridge: what ``host-gateway`` resolves to."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    # The engine leaves it out when it is the subnet's first address (docker0's).
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def published_port(service: DockerService, container_port: int) -> int | None:
    ports = service.container.attrs["NetworkSettings"]["Ports"] or {}
    for bound in ports.get(f"{container_port}/tcp") or []:
        if bound.get("HostIp") in ("127.0.0.1", "0.0.0.0", "", "::") and bound.get("HostPort"):
            return int(bound["HostPort"])
    return None


def image_variables(files: list[Path]) -> list[str]:
    """The variables the compose files take their images from (``image: ${X:-…}``)."""
    names: list[str] = []
    for path in files:
        for name in re.findall(r"image:\s*\"?\$\{(\w+)", path.read_text()):
            if name not in names:
                names.append(name)
    return names
