"""``docker network disconnect`` as a fault: the guide's tests 4 and 7, healed by reconnecting."""

from __future__ import annotations

from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
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
