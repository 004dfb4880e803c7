"""Service faults, through the service backend: stop, kill, pause, restart."""

from __future__ import annotations

import os
import signal as signals
from typing import TYPE_CHECKING, Any

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.containers import container_of
from chaoslib.faults.ledger import Ledger, LedgerEntry, register_healer
from chaoslib.services.base import Service
from chaoslib.wait import WaitTimeout, wait_until

if TYPE_CHECKING:
    from chaoslib.faults.ledger import RunningStack

ACTIONS = ("stop", "kill", "pause")
# The signals ``kill`` may send: the ones that end (or are meant to end) a server.
SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGABRT", "SIGUSR1", "SIGUSR2")
# How long a kill by another signal than SIGKILL waits for the service to exit: a server
# that handles the signal (Redis ignores SIGHUP) survives it, and is reported so.
EXIT_WAIT = 5.0


def signal_named(name: str) -> signals.Signals:
    """``SIGTERM``, ``TERM`` or ``15`` as a signal ``kill`` may send."""
    text = str(name).strip().upper()
    if text.isdigit():
        found = next((s for s in SIGNALS if int(signals.Signals[s]) == int(text)), None)
    else:
        found = text if text in SIGNALS else f"SIG{text}" if f"SIG{text}" in SIGNALS else None
    if found is None:
        raise ConfigError(f"--signal={name!r} is not a signal kill sends; accepted: "
                          f"{', '.join(SIGNALS)} (with or without SIG, or the number)")  # fmt: skip
    return signals.Signals[found]


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

    def __init__(
        self,
        service: Service,
        action: str,
        *,
        ledger: Ledger | None = None,
        signal: signals.Signals = signals.SIGKILL,
    ) -> None:
        super().__init__(ledger=ledger)
        if action not in ACTIONS:
            raise ConfigError(
                f"service action {action!r} is not valid; use one of {', '.join(ACTIONS)}"
            )
        if signal != signals.SIGKILL and action != "kill":
            raise ConfigError(f"a signal is for kill only, not {action}")
        self.service, self.action, self.signal = service, action, signals.Signals(signal)
        self.name = f"{action}@{service.name}"
        self._was_running = True
        self._acting = False  # the action began and may not have finished
        self.survived = False  # the service outlived the signal (it handles or ignores it)

    def describe(self) -> str:
        if self.signal != signals.SIGKILL:
            return f"{self.action} {self.service.name} with {self.signal.name}"
        return f"{self.action} {self.service.name}"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("service", _target(self.service, self.action), self.describe())

    def _apply(self) -> None:
        self._was_running = self.service.is_running()
        self._acting = True  # before the action: a signal may end it at any point
        if self.signal == signals.SIGKILL:
            getattr(self.service, self.action)()
        else:
            self.survived = not _send(self.service, self.signal)
        self._acting = False

    def _heal(self) -> None:
        if self.action == "pause":
            self.service.resume()
            return
        unfinished = self.action if self._acting else None
        if unfinished and self.signal != signals.SIGKILL:
            # The signal may be on its way: let the service act on it, never escalate it.
            _exited(self.service)
            unfinished = None
        _finish_and_start(self.service, unfinished, self._was_running)
        self._acting = False


def _send(service: Service, sig: signals.Signals) -> bool:
    """Send ``sig`` to the service (its process group, or its container's main process);
    True once it has exited, False if it still runs :data:`EXIT_WAIT` s later."""
    if not service.is_running():
        return True
    container = getattr(service, "container_name", None)
    if container:
        service.kill(signal=sig.name)  # type: ignore[call-arg]
    elif service.pid is not None:
        try:
            os.killpg(service.pid, sig)  # each local service leads its own process group
        except ProcessLookupError:
            return True
    return _exited(service)


def _exited(service: Service) -> bool:
    try:
        wait_until(lambda: not service.is_running(), timeout=EXIT_WAIT, interval=0.05,
                   what=f"{service.name} to exit")  # fmt: skip
    except WaitTimeout:
        return False
    return True


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


@register_healer("service")  # written by ServiceFault and Restart
def heal_service_entry(entry: LedgerEntry, stack: RunningStack | None) -> str:
    """A stopped, killed or paused service left by a dead run: running and unpaused again
    (a container found by name, a local server in the running stack)."""
    target = entry.target
    if target.get("container"):
        return restore_service(container_of(entry))
    service = stack.services.get(target["service"]) if stack else None
    if service is None:
        return f"service {target['service']} is not in the running stack; nothing to restore"
    return restore_service(service)


def restore_service(service: Any) -> str:  # any ManagedServer or DockerService
    """Resumed if paused, else started if not running; says which (or that it ran)."""
    if service.is_paused():
        service.resume()
        return f"resumed {service.name}"
    if not service.is_running():
        service.start()
        return f"started {service.name}"
    return f"{service.name} was running"
