"""Whether each process is up, sampled: the service lanes of the report's timeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chaoslib.observe.base import Observer
from chaoslib.observe.history import Event, History


class _Process(Protocol):
    def is_running(self) -> bool: ...

    def is_paused(self) -> bool: ...


class ProcessStates(Observer):
    """Every ``interval`` s, one event per process: source ``up:<name>``, ok = running and not paused."""

    kind = "state"

    def __init__(
        self,
        processes: Mapping[str, _Process],
        history: History | None = None,
        *,
        interval: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__("processes", history, **kwargs)
        self.processes, self.interval = processes, interval

    def sample(self) -> None:
        now = self.clock.now()
        for name, proc in list(self.processes.items()):
            try:
                up = proc.is_running() and not proc.is_paused()
            except Exception:  # a process table race counts as down, not as an observer crash
                up = False
            self.history.add(Event(now, f"up:{name}", self.kind, up, "up" if up else "down"))

    def run(self) -> None:
        while not self.stopping:
            self.sample()
            self.clock.sleep(self.interval, self._stop)
