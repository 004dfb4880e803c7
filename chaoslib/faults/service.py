"""Service faults, through the service backend: stop, kill, pause, restart."""

from __future__ import annotations

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.services.base import Service

ACTIONS = ("stop", "kill", "pause")


def _target(service: Service, action: str) -> dict[str, str]:
    target = {"service": service.name, "action": action}
    container = getattr(service, "container_name", None)
    if container:  # a docker service: reset finds it by container, not in the stack
        target["container"] = container
    return target


class ServiceFault(Fault):
    """``stop`` or ``kill`` (healed by start) or ``pause`` (healed by resume)."""

    def __init__(self, service: Service, action: str, *, ledger: Ledger | None = None) -> None:
        super().__init__(ledger=ledger)
        if action not in ACTIONS:
            raise ConfigError(
                f"service action {action!r} is not valid; use one of {', '.join(ACTIONS)}"
            )
        self.service, self.action = service, action
        self.name = f"{action}@{service.name}"

    def describe(self) -> str:
        return f"{self.action} {self.service.name}"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("service", _target(self.service, self.action), self.describe())

    def _apply(self) -> None:
        getattr(self.service, self.action)()

    def _heal(self) -> None:
        if self.action == "pause":
            self.service.resume()
        elif not self.service.is_running():
            self.service.start()


class Restart(Fault):
    """Stop the service, keep it down for ``down_for`` seconds, start it again."""

    def __init__(
        self,
        service: Service,
        down_for: float = 0.0,
        *,
        clock: Clock = REAL_CLOCK,
        ledger: Ledger | None = None,
    ) -> None:
        super().__init__(ledger=ledger)
        if down_for < 0:
            raise ConfigError(f"restart down_for must be >= 0 seconds (got {down_for})")
        self.service, self.down_for, self.clock = service, down_for, clock
        self.name = f"restart@{service.name}"

    def describe(self) -> str:
        return f"restart {self.service.name} (down {self.down_for:g}s)"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("service", _target(self.service, "stop"), self.describe())

    def _apply(self) -> None:
        self.service.stop()
        self.clock.sleep(self.down_for)
        self.service.start()

    def _heal(self) -> None:
        if not self.service.is_running():
            self.service.start()
