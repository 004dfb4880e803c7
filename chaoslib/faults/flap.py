"""Links that go down and up together on a schedule, driven by a background thread and an injected clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from loguru import logger

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.errors import ConfigError
from chaoslib.faults import schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.faults.owners import LinkOwners, new_owner
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError


class Flap(Fault):
    """Links that go down and up together on a schedule, on a background thread.

    Every proxy goes down at each window's start and up at its end, so all the
    links a service has (shared and per-client) flap as one. A link another fault
    holds down (:mod:`chaoslib.faults.owners`) stays down through the flap's up windows.
    """

    def __init__(
        self,
        client: Toxiproxy,
        proxies: str | Sequence[str],
        windows: list[schedule.Window],
        *,
        clock: Clock = REAL_CLOCK,
        ledger: Ledger | None = None,
        on_change: Callable[[str, float], None] | None = None,
    ) -> None:
        super().__init__(ledger=ledger)
        self.proxies = [proxies] if isinstance(proxies, str) else list(proxies)
        if not self.proxies:
            raise ConfigError("a flap needs at least one link")
        self.client, self.windows, self.clock = client, windows, clock
        self.on_change = on_change
        self.name = f"flap@{'+'.join(self.proxies)}"
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._owner = new_owner()

    @property
    def _owners(self) -> LinkOwners:
        return LinkOwners(self.ledger.path.parent)

    def _claim(self) -> None:
        self._owners.claim(self.client.url, self.proxies, self._owner, self.describe(),
                           exclusive=self.exclusive)  # fmt: skip

    def _unclaim(self) -> None:
        self._owners.release(self.client.url, self.proxies, self._owner)

    def describe(self) -> str:
        w = self.windows
        links = ", ".join(self.proxies)
        return (
            f"flap {links}: {len(w)} cycles, down {w[0].duration:g}s each" if w else f"flap {links}"
        )

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry(
            "link_down", {"api": self.client.url, "proxies": self.proxies}, self.describe()
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
            for action in schedule.timeline({self.name: self.windows}):
                if not self.clock.sleep(start + action.at - self.clock.now(), self._cancel):
                    return
                down = action.verb == "apply"
                act = self.client.disable if down else self.client.enable
                self._owners.set_down(self.client.url, self.proxies, self._owner, down, act)
                if self.on_change:
                    self.on_change("down" if action.verb == "apply" else "up", self.clock.now())
        except BaseException as exc:  # reported through .error and wait()
            logger.error("flap of {} failed: {}", ", ".join(self.proxies), exc)
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
        self._owners.release(
            self.client.url, self.proxies, self._owner, enable=lambda p: _enable(self.client, p)
        )


def _enable(client: Toxiproxy, proxy: str) -> None:
    try:
        client.enable(proxy)
    except ToxiproxyError as exc:
        if exc.status != 404:
            raise
