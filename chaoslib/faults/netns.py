"""Commands in a container's network namespace, run from the host, and what they read back.

Everything here enters the namespace with ``nsenter -t PID -n`` (as root), so the
container needs no ``tc``, ``ip`` or ``iptables`` of its own. Nothing here decides
what is chaoslib's: :mod:`chaoslib.faults.packet_marks` does.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from chaoslib.errors import ChaosError
from chaoslib.services.docker import DockerService

# The parent ``tc`` gives a qdisc on the ingress side (``ingress``, ``clsact``): a root
# qdisc does not replace those, so they are never in the way.
INGRESS_PARENT = "ffff:fff1"


class PacketFaultError(ChaosError):
    """A packet-level fault could not be applied (no netem, no root, no image)."""


def netns(pid: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``argv`` in the namespace of ``pid``; a failure is a PacketFaultError unless ``check``."""
    done = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", *argv], capture_output=True, text=True, timeout=30
    )
    if check and done.returncode != 0:
        raise PacketFaultError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")
    return done


def pid_of(service: DockerService) -> int:
    """The container's init pid, whose namespace the faults enter."""
    if os.geteuid() != 0:
        raise PacketFaultError("packet faults enter the container's network namespace: run as root")
    pid = service.pid
    if not pid:
        raise PacketFaultError(f"{service.name} is not running")
    return pid


def interface_of(pid: int) -> str:
    """The namespace's default-route interface (``eth0`` unless networks were re-joined)."""
    route = netns(pid, "ip", "-o", "route", "show", "default", check=False).stdout.split()
    if "dev" in route:
        return route[route.index("dev") + 1]
    links = netns(pid, "ip", "-o", "link", "show").stdout.splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in links]
    found = [n for n in names if n != "lo"]
    if not found:
        raise PacketFaultError("the container has no network interface")
    return found[0]


def egress_qdiscs(pid: int, interface: str) -> list[dict[str, Any]]:
    """The interface's qdiscs on the sending side, as ``tc -j`` reports them, root first."""
    shown = json.loads(netns(pid, "tc", "-j", "qdisc", "show", "dev", interface).stdout or "[]")
    egress = [q for q in shown if q.get("parent") != INGRESS_PARENT]
    return sorted(egress, key=lambda q: not q.get("root"))


def root_qdisc(pid: int, interface: str) -> dict[str, Any]:
    """The interface's root qdisc (``kind``, ``handle``, ``options``); kind ``none`` if none."""
    found = [q for q in egress_qdiscs(pid, interface) if q.get("root")]
    return found[0] if found else {"kind": "none", "handle": "0:", "options": {}}


def describe_qdisc(qdisc: dict[str, Any]) -> str:
    """A qdisc as ``tc qdisc show`` starts its line: ``tbf 8045:``."""
    return f"{qdisc.get('kind', '?')} {qdisc.get('handle', '?')}"


def rules(pid: int, chain: str) -> list[str] | None:
    """``iptables -S chain`` lines, or None when the chain does not exist."""
    done = netns(pid, "iptables", "-S", chain, check=False)
    return done.stdout.splitlines() if done.returncode == 0 else None
