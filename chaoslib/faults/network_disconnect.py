"""``docker network disconnect`` as a fault: the guide's tests 4 and 7, healed by reconnecting."""

from __future__ import annotations

from typing import Any

from chaoslib.faults.base import Fault
from chaoslib.faults.containers import container_of
from chaoslib.faults.ledger import Ledger, LedgerEntry, register_healer
from chaoslib.services.docker import DockerService


class NetworkDisconnect(Fault):
    """One container off one network; the heal reconnects it under its service alias."""

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


@register_healer("network")
def heal_network_entry(entry: LedgerEntry, stack: Any = None) -> str:
    """A container a dead run disconnected: on its network again, under its service alias."""
    target = entry.target
    service = container_of(entry)
    if target["network"] not in service.networks():
        service.connect(target["network"], aliases=[target.get("alias", service.name)])
    return f"reconnected {target['container']} to {target['network']}"
