"""A link that goes down and up on a schedule, driven by a background thread and an injected clock."""

from __future__ import annotations

import threading
from collections.abc import Callable

from loguru import logger

from chaoslib import schedule
from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.toxiproxy import Toxiproxy, ToxiproxyError


class Flap(Fault):
    """A link that goes down and up on a schedule, on a background thread."""

    def __init__(
        self,
        client: Toxiproxy,
        proxy: str,
        windows: list[schedule.Window],
        *,
        clock: Clock = REAL_CLOCK,
        ledger: Ledger | None = None,
        on_change: Callable[[str, float], None] | None = None,
    ) -> None:
        super().__init__(ledger=ledger)
        self.client, self.proxy, self.windows, self.clock = client, proxy, windows, clock
        self.on_change = on_change
        self.name = f"flap@{proxy}"
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def describe(self) -> str:
        w = self.windows
        return (
            f"flap {self.proxy}: {len(w)} cycles, down {w[0].duration:g}s each"
            if w
            else f"flap {self.proxy}"
        )

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry(
            "link_down", {"api": self.client.url, "proxies": [self.proxy]}, self.describe()
        )

    def _apply(self) -> None:
        self._cancel.clear()
        start = self.clock.now()
        self._thread = threading.Thread(
            target=self._run, args=(start,), name=self.name, daemon=True
        )
        self._thread.start()

    def _run(self, start: float) -> None:
        try:
            for action in schedule.timeline({self.proxy: self.windows}):
                if not self.clock.sleep(start + action.at - self.clock.now(), self._cancel):
                    return
                if action.verb == "apply":
                    self.client.disable(self.proxy)
                else:
                    self.client.enable(self.proxy)
                if self.on_change:
                    self.on_change("down" if action.verb == "apply" else "up", self.clock.now())
        except BaseException as exc:  # reported through .error and wait()
            logger.error("flap of {} failed: {}", self.proxy, exc)
            self.error = exc

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every cycle ran; False if ``timeout`` passed first."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _heal(self) -> None:
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(30)
        _enable(self.client, self.proxy)


def _enable(client: Toxiproxy, proxy: str) -> None:
    try:
        client.enable(proxy)
    except ToxiproxyError as exc:
        if exc.status != 404:
            raise
