"""The Fault contract: an apply/heal pair, a context manager, healed exactly once.

Every fault records itself in the ledger before it is applied, and removes
the record after it is healed. ``heal`` is idempotent and safe to call on a
fault that never applied (it then does nothing). A link fault also claims its
links (:mod:`chaoslib.faults.owners`) before it is recorded, so that its heal
never undoes another fault on the same link.
"""

from __future__ import annotations

import threading
from typing import Any

from loguru import logger

from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.faults.signals import signals_held


class Fault:
    """Subclasses implement ``_apply``/``_heal`` and say how a stranger heals them (``ledger_entry``)."""

    name: str = "fault"

    def __init__(self, *, ledger: Ledger | None = None) -> None:
        self.ledger = ledger if ledger is not None else Ledger()
        self._entry: LedgerEntry | None = None
        self._lock = threading.RLock()
        self.applied = False
        # True: refuse (LinkHeld) to share a link another live process holds; the tasks set it.
        self.exclusive = False

    # -- for subclasses --------------------------------------------------------------
    def _apply(self) -> None:
        raise NotImplementedError

    def _heal(self) -> None:
        raise NotImplementedError

    def ledger_entry(self) -> LedgerEntry:
        raise NotImplementedError

    def _claim(self) -> None:
        """Take what the fault acts on (its links) before it is recorded; may refuse."""

    def _unclaim(self) -> None:
        """Give back what :meth:`_claim` took, for a fault that was never recorded."""

    def describe(self) -> str:
        return self.name

    # -- the contract ------------------------------------------------------------------
    def apply(self) -> Fault:
        with self._lock:
            if self.applied:
                return self
            try:
                # The claim, the record and the flag as one step: a signal between them would
                # leave an entry (or a claim) for a fault that no heal knows was applied.
                with signals_held():
                    self._claim()
                    try:
                        self._entry = self.ledger.add(self.ledger_entry())
                    except BaseException:
                        self._unclaim()
                        raise
                    self.applied = True  # set before acting: a failed apply must still heal
                self._apply()
            except BaseException:
                self.heal()
                raise
            logger.info("fault applied: {}", self.describe())
        return self

    def heal(self) -> None:
        with self._lock, signals_held():
            if not self.applied:
                return
            self._heal()
            self.applied = False
            if self._entry is not None:
                self.ledger.remove(self._entry.id)
                self._entry = None
            logger.info("fault healed: {}", self.describe())

    def __enter__(self) -> Fault:
        return self.apply()

    def __exit__(self, *exc: Any) -> None:
        self.heal()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}{' applied' if self.applied else ''}>"
