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
    """``stop`` or ``kill`` (healed by start) or ``pause`` (healed by resume).

    The heal leaves the service as it was before the fault, whatever phase the apply
    reached: a stop cut short by a signal may still be shutting the server down, and a
    server that is still shutting down counts as running. So an interrupted stop or kill
    is finished first, and the service started after it, if it was running before.
    """

    def __init__(self, service: Service, action: str, *, ledger: Ledger | None = None) -> None:
        super().__init__(ledger=ledger)
        if action not in ACTIONS:
            raise ConfigError(
                f"service action {action!r} is not valid; use one of {', '.join(ACTIONS)}"
            )
        self.service, self.action = service, action
        self.name = f"{action}@{service.name}"
        self._was_running = True
        self._acting = False  # the action began and may not have finished

    def describe(self) -> str:
        return f"{self.action} {self.service.name}"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("service", _target(self.service, self.action), self.describe())

    def _apply(self) -> None:
        self._was_running = self.service.is_running()
        self._acting = True  # before the action: a signal may end it at any point
        getattr(self.service, self.action)()
        self._acting = False

    def _heal(self) -> None:
        if self.action == "pause":
            self.service.resume()
            return
        _finish_and_start(self.service, self.action if self._acting else None, self._was_running)
        self._acting = False


def _finish_and_start(service: Service, unfinished: str | None, was_running: bool) -> None:
    """Finish a stop or kill that was cut short (both wait until the process is gone, and
    both are idempotent), then start the service if it was running before the fault."""
    if unfinished is not None:
        getattr(service, unfinished)()
    if was_running and not service.is_running():
        service.start()


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
        self._stopping = False

    def describe(self) -> str:
        return f"restart {self.service.name} (down {self.down_for:g}s)"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("service", _target(self.service, "stop"), self.describe())

    def _apply(self) -> None:
        self._stopping = True  # before the stop: a signal may end it half way
        self.service.stop()
        self._stopping = False
        self.clock.sleep(self.down_for)
        self.service.start()

    def _heal(self) -> None:
        _finish_and_start(self.service, "stop" if self._stopping else None, was_running=True)
        self._stopping = False
