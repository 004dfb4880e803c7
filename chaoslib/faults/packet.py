"""Packet-level faults on a container's interface (the Pumba side), and network disconnects.

Two ways in:

* directly in the container's network namespace (``nsenter -t PID -n``, as root):
  ``rate`` with a ``tbf`` qdisc and ``loss`` with an iptables ``statistic``
  rule in a chain of chaoslib's own, which need no netem;
* through a Pumba container (``PUMBA_IMAGE``) for netem's ``delay``, ``loss``,
  ``duplicate``, ``corrupt`` and ``rate``.

A kernel without netem is reported, never silently ignored. After the apply
each fault reads the namespace back (``verify``): a command that exited 0 but
left no qdisc or rule fails the apply. Every qdisc and rule is removed on heal,
and, through the ledger, by ``invoke chaos.reset``; ``leftovers`` says what
is still there.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any

from chaoslib.errors import ChaosError, ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.services.docker import DockerService
from chaoslib.wait import WaitTimeout, wait_until

CHAIN = "CHAOSLIB"
NETEM = ("delay", "loss", "duplicate", "corrupt", "rate")
PUMBA_IMAGE = "gaiaadm/pumba:0.10.1"


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


class PacketFaultError(ChaosError):
    """A packet-level fault could not be applied (no netem, no root, no image)."""


def _netns(pid: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", *argv], capture_output=True, text=True, timeout=30
    )
    if check and done.returncode != 0:
        raise PacketFaultError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")
    return done


def _pid(service: DockerService) -> int:
    if os.geteuid() != 0:
        raise PacketFaultError("packet faults enter the container's network namespace: run as root")
    pid = service.pid
    if not pid:
        raise PacketFaultError(f"{service.name} is not running")
    return pid


def interface_of(pid: int) -> str:
    """The namespace's default-route interface (``eth0`` unless networks were re-joined)."""
    route = _netns(pid, "ip", "-o", "route", "show", "default", check=False).stdout.split()
    if "dev" in route:
        return route[route.index("dev") + 1]
    links = _netns(pid, "ip", "-o", "link", "show").stdout.splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in links]
    found = [n for n in names if n != "lo"]
    if not found:
        raise PacketFaultError("the container has no network interface")
    return found[0]


def netem_available(pid: int, interface: str = "eth0") -> str | None:
    """None if netem works in that namespace, else the kernel's answer."""
    probe = _netns(pid, "tc", "qdisc", "add", "dev", interface, "root", "netem", "delay", "1ms",
                   check=False)  # fmt: skip
    if probe.returncode == 0:
        _netns(pid, "tc", "qdisc", "del", "dev", interface, "root", check=False)
        return None
    return (probe.stderr or probe.stdout).strip() or f"tc exited {probe.returncode}"


def root_qdisc(pid: int, interface: str) -> dict[str, Any]:
    """The interface's root qdisc as ``tc -j`` reports it (``kind``, ``options``)."""
    shown = json.loads(_netns(pid, "tc", "-j", "qdisc", "show", "dev", interface).stdout or "[]")
    return next((q for q in shown if q.get("root")), {"kind": "none", "options": {}})


def _rules(pid: int, chain: str) -> list[str] | None:
    """``iptables -S chain`` lines, or None when the chain does not exist."""
    done = _netns(pid, "iptables", "-S", chain, check=False)
    return done.stdout.splitlines() if done.returncode == 0 else None


def leftovers(pid: int, interface: str, kinds: tuple[str, ...] = ("rate", "loss")) -> list[str]:
    """What of chaoslib's is still in the namespace: a tbf/netem root qdisc (kind ``rate``),
    the chain and its jumps (kind ``loss``)."""
    found = []
    if "rate" in kinds and (qdisc := root_qdisc(pid, interface)["kind"]) in ("tbf", "netem"):
        found.append(f"{qdisc} qdisc on {interface}")
    if "loss" not in kinds:
        return found
    if _rules(pid, CHAIN) is not None:
        found.append(f"iptables chain {CHAIN}")
    for hook in ("INPUT", "OUTPUT"):
        if any(line.endswith(f"-j {CHAIN}") for line in _rules(pid, hook) or []):
            found.append(f"iptables {hook} jump to {CHAIN}")
    return found


def clear(
    pid: int, interface: str = "eth0", kinds: tuple[str, ...] = ("rate", "loss")
) -> list[str]:
    """Remove chaoslib's qdisc (``rate``) and iptables chain (``loss``); what was removed."""
    done = []
    if "rate" in kinds and _netns(pid, "tc", "qdisc", "del", "dev", interface, "root",
                                  check=False).returncode == 0:  # fmt: skip
        done.append(f"qdisc on {interface}")
    if "loss" not in kinds:
        return done
    for hook in ("INPUT", "OUTPUT"):
        while _netns(pid, "iptables", "-D", hook, "-j", CHAIN, check=False).returncode == 0:
            done.append(f"iptables {hook} jump")
    if _netns(pid, "iptables", "-F", CHAIN, check=False).returncode == 0:
        _netns(pid, "iptables", "-X", CHAIN, check=False)
        done.append(f"iptables chain {CHAIN}")
    return done


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
        target = {"container": self.service.container_name, "interface": self.interface}
        return LedgerEntry("packet", target, self.describe())

    def _apply(self) -> None:
        pid = _pid(self.service)
        self.interface = self.interface or interface_of(pid)
        clear(pid, self.interface, (self.kind,))  # one of each kind per interface
        if self.kind == "rate":
            rate = f"{self.value:g}kbit"
            burst = f"{max(1600, int(self.value * 1000 / 8 / 100))}b"  # ~10 ms of traffic
            _netns(pid, "tc", "qdisc", "add", "dev", self.interface, "root", "tbf", "rate", rate,
                   "burst", burst, "latency", "50ms")  # fmt: skip
        else:
            probability = f"{self.value / 100:.4f}"
            _netns(pid, "iptables", "-N", CHAIN)
            _netns(pid, "iptables", "-A", CHAIN, "-m", "statistic", "--mode", "random",
                   "--probability", probability, "-j", "DROP")  # fmt: skip
            for hook in ("INPUT", "OUTPUT"):
                _netns(pid, "iptables", "-I", hook, "-j", CHAIN)
        # A command that exits 0 is not proof: read the namespace back.
        self.evidence = self.verify()

    def verify(self) -> str:
        """What is in the namespace for this fault, or PacketFaultError when it is not in place."""
        pid, where = _pid(self.service), f"{self.interface} of {self.service.container_name}"
        if self.kind == "rate":
            root = root_qdisc(pid, self.interface)
            kbit = root["options"].get("rate", 0) * 8 / 1000  # tc -j gives bytes per second
            if root["kind"] != "tbf" or abs(kbit - self.value) > 0.01 * self.value + 1:
                raise PacketFaultError(
                    f"the tbf qdisc is not in place on {where}: the root qdisc is "
                    f"{root['kind']} {json.dumps(root['options'])}"
                )
            return f"tbf root qdisc on {where} at {kbit:g} kbit/s"
        drops = [r for r in _rules(pid, CHAIN) or [] if "--probability" in r and "-j DROP" in r]
        probability = float(drops[0].split("--probability")[1].split()[0]) if drops else -1.0
        hooks = [h for h in ("INPUT", "OUTPUT") if f"-A {h} -j {CHAIN}" in (_rules(pid, h) or [])]
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
        return leftovers(_pid(self.service), self.interface, (self.kind,))

    def _heal(self) -> None:
        if self.service.is_running() and self.interface:
            clear(_pid(self.service), self.interface, (self.kind,))


class PumbaNetem(Fault):
    """netem through a Pumba container; fails loudly where the kernel has no netem."""

    def __init__(
        self,
        service: DockerService,
        command: str,
        args: list[str],
        *,
        duration: float = 60.0,
        interface: str | None = None,
        image: str | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        super().__init__(ledger=ledger)
        if command not in NETEM:
            raise ConfigError(f"netem {command!r} is not valid; use one of {', '.join(NETEM)}")
        self.service, self.command, self.args = service, command, args
        self.duration, self.interface = duration, interface or ""
        self.image = image or os.environ.get("PUMBA_IMAGE", PUMBA_IMAGE)
        self.pumba: Any = None
        self.name = f"netem-{command}@{service.name}"
        self.evidence = ""

    def describe(self) -> str:
        return f"netem {self.command} {' '.join(self.args)} on {self.service.name} (pumba)"

    def ledger_entry(self) -> LedgerEntry:
        target = {"container": self.service.container_name, "interface": self.interface}
        return LedgerEntry("packet", target, self.describe())

    def _apply(self) -> None:
        import docker.errors

        pid = _pid(self.service)
        self.interface = self.interface or interface_of(pid)
        reason = netem_available(pid, self.interface)
        if reason is not None:
            raise PacketFaultError(f"netem is not available on this kernel: {reason}")
        client = self.service.client
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise PacketFaultError(
                f"the Pumba image {self.image} is not present and cannot be pulled here; "
                "load it (docker load) or set PUMBA_IMAGE"
            ) from None
        self.pumba = client.containers.run(
            self.image,
            ["netem", "--duration", f"{int(self.duration)}s", "--interface", self.interface,
             self.command, *self.args, self.service.container_name],
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
            detach=True,
        )  # fmt: skip
        self.evidence = self.verify()

    def verify(self) -> str:
        """Wait for Pumba's netem qdisc to show in the namespace; a Pumba that exits first fails."""
        pid, where = _pid(self.service), f"{self.interface} of {self.service.container_name}"

        def in_place() -> bool:
            if root_qdisc(pid, self.interface)["kind"] == "netem":
                return True
            self.pumba.reload()
            if self.pumba.status == "exited":
                tail = self.pumba.logs(tail=5).decode("utf-8", "replace").strip()
                raise PacketFaultError(f"Pumba exited before netem was in place on {where}: {tail}")
            return False

        try:
            wait_until(in_place, timeout=20, what=f"Pumba's netem qdisc on {where}")
        except WaitTimeout:
            raise PacketFaultError(f"no netem qdisc appeared on {where} within 20 s") from None
        return f"netem root qdisc on {where}"

    def leftovers(self) -> list[str]:
        if not self.service.is_running() or not self.interface:
            return []
        return leftovers(_pid(self.service), self.interface, ("rate",))  # the root qdisc

    def _heal(self) -> None:
        if self.pumba is not None:
            self.pumba.remove(force=True)  # Pumba removes its qdisc when stopped
        if self.service.is_running() and self.interface:
            clear(_pid(self.service), self.interface, ("rate",))  # Pumba adds only a qdisc


class NetworkDisconnect(Fault):
    """``docker network disconnect``: the guide's tests 4 and 7. Healed by reconnecting."""

    def __init__(
        self, service: DockerService, network: str, *, ledger: Ledger | None = None
    ) -> None:
        super().__init__(ledger=ledger)
        self.service, self.network = service, network
        self.name = f"disconnect@{service.name}"

    def describe(self) -> str:
        return f"disconnect {self.service.name} from {self.network}"

    def ledger_entry(self) -> LedgerEntry:
        target = {"container": self.service.container_name, "network": self.network,
                  "alias": self.service.name}  # fmt: skip
        return LedgerEntry("network", target, self.describe())

    def _apply(self) -> None:
        self.service.disconnect(self.network)

    def _heal(self) -> None:
        if self.network not in self.service.networks():
            self.service.connect(self.network)
