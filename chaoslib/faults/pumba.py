"""netem through a Pumba container (``PUMBA_IMAGE``): delay, loss, duplicate, corrupt, rate.

Pumba adds its netem root qdisc with a handle of the kernel's choosing, so the
fault reads that handle back once the qdisc shows and records it in the ledger:
the heal, and ``invoke chaos.reset``, remove a netem root qdisc with that
handle and nothing else. Like the direct rate fault, it refuses to start where
the interface has a qdisc chaoslib did not add.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.faults.netns import PacketFaultError, interface_of, netns, pid_of, root_qdisc
from chaoslib.faults.packet_marks import HANDLE, clear, ensure_replaceable, leftovers
from chaoslib.services.docker import DockerService
from chaoslib.wait import WaitTimeout, wait_until

NETEM = ("delay", "loss", "duplicate", "corrupt", "rate")
PUMBA_IMAGE = "gaiaadm/pumba:0.10.1"


def netem_available(pid: int, interface: str = "eth0") -> str | None:
    """None if netem works in that namespace, else the kernel's answer. The probe qdisc
    has chaoslib's handle and only that handle is deleted; call it only after
    :func:`ensure_replaceable`."""
    probe = netns(pid, "tc", "qdisc", "add", "dev", interface, "root", "handle", HANDLE, "netem",
                  "delay", "1ms", check=False)  # fmt: skip
    if probe.returncode == 0:
        netns(pid, "tc", "qdisc", "del", "dev", interface, "root", "handle", HANDLE, check=False)
        return None
    return (probe.stderr or probe.stdout).strip() or f"tc exited {probe.returncode}"


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
        self.handle = ""  # Pumba's netem qdisc, once it shows
        self.name = f"netem-{command}@{service.name}"
        self.evidence = ""

    def describe(self) -> str:
        return f"netem {self.command} {' '.join(self.args)} on {self.service.name} (pumba)"

    def ledger_entry(self) -> LedgerEntry:
        target = {"container": self.service.container_name, "interface": self.interface,
                  "kinds": ["rate"], "qdisc": "netem", "handle": self.handle}  # fmt: skip
        return LedgerEntry("packet", target, self.describe())

    def _record_handle(self) -> None:
        """Re-record the entry with Pumba's handle: the new one first, so that a crash in
        between leaves two entries (the second heals nothing), never none."""
        old = self._entry
        if old is not None:
            self._entry = self.ledger.add(self.ledger_entry())
            self.ledger.remove(old.id)

    def _apply(self) -> None:
        import docker.errors

        pid = pid_of(self.service)
        self.interface = self.interface or interface_of(pid)
        ensure_replaceable(pid, self.interface,
                           f"{self.interface} of {self.service.container_name}")  # fmt: skip
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
        self.handle = root_qdisc(pid, self.interface)["handle"]
        self._record_handle()

    def verify(self) -> str:
        """Wait for Pumba's netem qdisc to show in the namespace; a Pumba that exits first fails."""
        pid, where = pid_of(self.service), f"{self.interface} of {self.service.container_name}"

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
        return leftovers(pid_of(self.service), self.interface, ("rate",), qdisc="netem",
                         handle=self.handle)  # fmt: skip

    def _heal(self) -> None:
        if self.pumba is not None:
            import docker.errors

            # SIGTERM first: Pumba removes its own qdisc when told to stop, not when killed.
            # One already gone or exited: the remove below says the rest.
            with contextlib.suppress(docker.errors.APIError):
                self.pumba.stop(timeout=10)
            self.pumba.remove(force=True)
        if self.service.is_running() and self.interface and self.handle:
            clear(pid_of(self.service), self.interface, ("rate",), qdisc="netem",
                  handle=self.handle)  # fmt: skip
