"""One fault over several links: its members applied in order and healed in reverse.

The group keeps no ledger entry of its own. Each member records itself before
it applies, as every fault does, so ``invoke chaos.reset`` heals whatever a
crashed run left of a group one member at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from loguru import logger

from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.signals import signals_held


class FaultGroup(Fault):
    """Apply every member in order; heal them all in reverse, even when one heal fails."""

    def __init__(self, members: Sequence[Fault]) -> None:
        if not members:
            raise ConfigError("a fault group needs at least one fault")
        super().__init__(ledger=members[0].ledger)
        self.members = list(members)
        self.name = " + ".join(m.name for m in self.members)

    def describe(self) -> str:
        texts = [m.describe() for m in self.members]
        proxies = [getattr(m, "proxy", "") for m in self.members]
        # The same toxic on several links reads as one line naming them all.
        shapes = {t.replace(f" on {p} ", " on ") for t, p in zip(texts, proxies, strict=True)}
        if all(proxies) and len(shapes) == 1:
            return texts[0].replace(f" on {proxies[0]} ", f" on {', '.join(proxies)} ")
        return "; ".join(texts)

    @property
    def stats(self) -> dict[str, int]:
        """The members' protocol-toxic counts (matched, passed), summed; read after the heal."""
        total: dict[str, int] = {}
        for member in self.members:
            for key, value in getattr(member, "stats", {}).items():
                total[key] = total.get(key, 0) + value
        return total

    def apply(self) -> Fault:
        with self._lock:
            if self.applied:
                return self
            self.applied = True  # set first: a half-applied group must still be healed
            try:
                for member in self.members:
                    member.exclusive = member.exclusive or self.exclusive
                    member.apply()
            except BaseException:
                self.heal()
                raise
        return self

    def heal(self) -> None:
        with self._lock, signals_held():
            if not self.applied:
                return
            failed: list[tuple[Fault, BaseException]] = []
            for member in reversed(self.members):
                try:
                    member.heal()  # idempotent: a member that never applied does nothing
                except Exception as exc:  # the others must still heal; raised below
                    logger.error("healing {} failed: {}", member.describe(), exc)
                    failed.append((member, exc))
            # A member whose heal failed keeps its ledger entry, for chaos.reset.
            self.applied = any(member.applied for member in self.members)
            if failed:
                raise failed[0][1]
