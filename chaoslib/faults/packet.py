"""Packet-level faults on a container's interface (the Pumba side), and network disconnects.

Two ways in:

* directly in the container's network namespace (``nsenter -t PID -n``, as root):
  ``rate`` with a ``tbf`` qdisc and ``loss`` with an iptables ``statistic``
  rule in a chain of chaoslib's own, which need no netem;
* through a Pumba container (:mod:`chaoslib.faults.pumba`) for netem's ``delay``,
  ``loss``, ``duplicate``, ``corrupt`` and ``rate``.

A kernel without netem is reported, never silently ignored. After the apply
each fault reads the namespace back (``verify``): a command that exited 0 but
left no qdisc or rule fails the apply. chaoslib replaces only the kernel's
default root qdisc and removes only what it marked as its own
(:mod:`chaoslib.faults.packet_marks`): on heal, and, through the ledger, by
``invoke chaos.reset``; ``leftovers`` says what of its own is still there.

This module is also where the other packet modules' public names are imported from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.containers import container_of
from chaoslib.faults.ledger import Ledger, LedgerEntry, register_healer
from chaoslib.faults.netns import PacketFaultError, interface_of, netns, pid_of, root_qdisc, rules
from chaoslib.faults.network_disconnect import NetworkDisconnect
from chaoslib.faults.packet_marks import (
    CHAIN,
    COMMENT,
    HANDLE,
    Cleared,
    ForeignQdiscError,
    clear,
    ensure_replaceable,
    leftovers,
)
from chaoslib.faults.pumba import NETEM, PUMBA_IMAGE, PumbaNetem, netem_available
from chaoslib.services.docker import DockerService

__all__ = [
    "CHAIN", "HANDLE", "KINDS", "NETEM", "PUMBA_IMAGE", "Cleared", "ForeignQdiscError",
    "NetworkDisconnect", "PacketFault", "PacketFaultError", "PacketKind", "PumbaNetem",
    "check_packet", "clear", "interface_of", "leftovers", "netem_available", "packet_fault",
    "root_qdisc",
]  # fmt: skip


@dataclass(frozen=True)
class PacketKind:
    """One ``--kind`` of packet fault: its unit, its range ``(0, high]`` and how it is made."""

    unit: str
    high: float
    how: str
    integer: bool = False

    def accepted(self) -> str:
        whole = "a whole number of " if self.integer else ""
        return f"{whole}{self.unit} > 0 and <= {self.high:,.0f} ({self.how})"


# What the task and the experiment file accept: rate and loss need no netem.
KINDS = {
    "rate": PacketKind("kbit/s", 10_000_000, "tbf qdisc"),
    "loss": PacketKind("%", 100, "iptables statistic rule"),
    "delay": PacketKind("ms", 60_000, "netem through Pumba", integer=True),
    "duplicate": PacketKind("%", 100, "netem through Pumba"),
    "corrupt": PacketKind("%", 100, "netem through Pumba"),
}


def check_packet(kind: str, value: float) -> float:
    """``value`` if it is in range for ``kind``, else a ConfigError that says what is accepted."""
    if kind not in KINDS:
        raise ConfigError(f"unknown packet fault kind {kind!r}; accepted: {', '.join(KINDS)}")
    spec = KINDS[kind]
    if not 0 < value <= spec.high or (spec.integer and value != int(value)):
        raise ConfigError(f"{kind} {value:g} is out of range; accepted: {spec.accepted()}")
    return value


def packet_fault(
    service: DockerService, kind: str, value: float, *, duration: float, ledger: Ledger
) -> Fault:
    """The fault for one kind: direct (rate, loss) or netem through Pumba (the others)."""
    check_packet(kind, value)
    if kind in ("rate", "loss"):
        return PacketFault(service, kind, value, ledger=ledger)
    args = ["--time", str(int(value))] if kind == "delay" else ["--percent", f"{value:g}"]
    return PumbaNetem(service, kind, args, duration=duration, ledger=ledger)


class PacketFault(Fault):
    """``rate`` (kbit/s, tbf) or ``loss`` (percent, iptables statistic) inside a container."""

    def __init__(
        self,
        service: DockerService,
        kind: str,
        value: float,
        *,
        interface: str | None = None,  # default: the container's default-route interface
        ledger: Ledger | None = None,
    ) -> None:
        super().__init__(ledger=ledger)
        if kind not in ("rate", "loss"):
            raise ConfigError(f"packet fault {kind!r} is not direct; use rate or loss (or Pumba)")
        if kind == "rate" and value <= 0:
            raise ConfigError(f"rate must be > 0 kbit/s (got {value})")
        if kind == "loss" and not 0 < value <= 100:
            raise ConfigError(f"loss must be a percentage in (0, 100] (got {value})")
        self.service, self.kind, self.value = service, kind, value
        self.interface = interface or ""
        self.name = f"{kind}@{service.name}"
        self.evidence = ""  # what :meth:`verify` read back after the apply

    def describe(self) -> str:
        amount = f"{self.value:g} kbit/s" if self.kind == "rate" else f"{self.value:g}%"
        where = f":{self.interface}" if self.interface else ""
        return f"{self.kind} {amount} on {self.service.name}{where}"

    def ledger_entry(self) -> LedgerEntry:
        # What marks it as chaoslib's, so that a reset removes that and nothing else.
        marks = {"qdisc": "tbf", "handle": HANDLE} if self.kind == "rate" else {"chain": CHAIN}
        target = {"container": self.service.container_name, "interface": self.interface,
                  "kinds": [self.kind], **marks}  # fmt: skip
        return LedgerEntry("packet", target, self.describe())

    def _apply(self) -> None:
        pid = pid_of(self.service)
        self.interface = self.interface or interface_of(pid)
        if self.kind == "rate":
            ensure_replaceable(pid, self.interface,
                               f"{self.interface} of {self.service.container_name}")  # fmt: skip
        clear(pid, self.interface, (self.kind,))  # chaoslib's own only: one of each kind
        if self.kind == "rate":
            rate = f"{self.value:g}kbit"
            burst = f"{max(1600, int(self.value * 1000 / 8 / 100))}b"  # ~10 ms of traffic
            netns(pid, "tc", "qdisc", "add", "dev", self.interface, "root", "handle", HANDLE,
                  "tbf", "rate", rate, "burst", burst, "latency", "50ms")  # fmt: skip
        else:
            probability = f"{self.value / 100:.4f}"
            netns(pid, "iptables", "-N", CHAIN)
            netns(pid, "iptables", "-A", CHAIN, "-m", "statistic", "--mode", "random",
                  "--probability", probability, "-j", "DROP")  # fmt: skip
            for hook in ("INPUT", "OUTPUT"):
                netns(pid, "iptables", "-I", hook, "-m", "comment", "--comment", COMMENT,
                      "-j", CHAIN)  # fmt: skip
        # A command that exits 0 is not proof: read the namespace back.
        self.evidence = self.verify()

    def verify(self) -> str:
        """What is in the namespace for this fault, or PacketFaultError when it is not in place."""
        pid, where = pid_of(self.service), f"{self.interface} of {self.service.container_name}"
        if self.kind == "rate":
            root = root_qdisc(pid, self.interface)
            kbit = root["options"].get("rate", 0) * 8 / 1000  # tc -j gives bytes per second
            ours = root["kind"] == "tbf" and root.get("handle") == HANDLE
            if not ours or abs(kbit - self.value) > 0.01 * self.value + 1:
                raise PacketFaultError(
                    f"the tbf qdisc is not in place on {where}: the root qdisc is "
                    f"{root['kind']} {root.get('handle', '?')} {json.dumps(root['options'])}"
                )
            return f"tbf root qdisc {HANDLE} on {where} at {kbit:g} kbit/s"
        drops = [r for r in rules(pid, CHAIN) or [] if "--probability" in r and "-j DROP" in r]
        probability = float(drops[0].split("--probability")[1].split()[0]) if drops else -1.0
        jump = f"-m comment --comment {COMMENT} -j {CHAIN}"
        hooks = [h for h in ("INPUT", "OUTPUT") if f"-A {h} {jump}" in (rules(pid, h) or [])]
        if abs(probability * 100 - self.value) > 0.01 or hooks != ["INPUT", "OUTPUT"]:
            raise PacketFaultError(
                f"the iptables loss rule is not in place on {where}: chain {CHAIN} drops "
                f"{'nothing' if probability < 0 else f'with probability {probability:g}'}, "
                f"jumped to from {', '.join(hooks) or 'no hook'} (needed: INPUT and OUTPUT)"
            )
        return f"iptables chain {CHAIN} on {where} drops {probability * 100:g}% on INPUT and OUTPUT"

    def leftovers(self) -> list[str]:
        """What of this fault's kind is still in the container (none once its namespace is gone)."""
        if not self.service.is_running() or not self.interface:
            return []
        return leftovers(pid_of(self.service), self.interface, (self.kind,))

    def _heal(self) -> None:
        if self.service.is_running() and self.interface:
            clear(pid_of(self.service), self.interface, (self.kind,))


@register_healer("packet")  # written by PacketFault and PumbaNetem
def heal_packet_entry(entry: LedgerEntry, stack: Any = None) -> str:
    """What a dead run added to a container's namespace removed: only what the entry says
    chaoslib added (its marks), nothing else there."""
    target = entry.target
    service = container_of(entry)
    if not service.is_running() or not service.pid:
        return f"container {target['container']} is not running; its namespace is gone"
    # A root qdisc of that kind with that handle only (an entry from before handles were
    # recorded matches none, so a qdisc is left alone).
    cleared = clear(
        service.pid,
        target.get("interface") or interface_of(service.pid),
        tuple(target.get("kinds") or ("rate", "loss")),
        qdisc=target.get("qdisc", "tbf"),
        handle=target.get("handle", HANDLE if "kinds" in target else ""),
    )
    return cleared.summary(target["container"])
