"""A link down: proxies disabled, so new connects are refused and open connections drop.

Several faults may hold one link down at once (a flap and a down in one experiment,
or two tasks with ``--overlap``): the link owners (:mod:`chaoslib.faults.owners`)
count them, and the link comes back only when the last of them heals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.faults.owners import Claim, LinkOwners, new_owner
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError


def _ignore_missing(call: Callable[[], Any]) -> None:
    try:
        call()
    except ToxiproxyError as exc:
        if exc.status != 404:
            raise


class LinkDown(Fault):
    """Proxies disabled: new connects are refused and open connections drop."""

    def __init__(
        self, client: Toxiproxy, proxies: list[str], *, ledger: Ledger | None = None
    ) -> None:
        super().__init__(ledger=ledger)
        if not proxies:
            raise ConfigError("a partition needs at least one link")
        self.client, self.proxies = client, list(proxies)
        self._mine = list(self.proxies)  # narrowed at apply to those that are chaoslib's
        self.left_down: list[str] = []  # at the heal: links another owner still holds down
        self.name = f"down@{'+'.join(self.proxies)}"
        self._owner = new_owner()

    def describe(self) -> str:
        return f"link down: {', '.join(self.proxies)}"

    def _claim(self) -> None:
        api = self.client.url

        def ours(claims: list[Claim]) -> list[str]:
            # A link that is up is ours to take down, and one another chaoslib fault holds
            # down is ours too (it comes back when the last of us heals). One someone else
            # disabled stays disabled, after the heal and after a reset.
            known = self.client.proxies()
            held = {c.link for c in claims if c.api == api and c.down}
            return [p for p in self.proxies if p not in known or known[p].enabled or p in held]

        owners = LinkOwners(self.ledger.path.parent)
        self._mine = owners.claim(api, self.proxies, self._owner, self.describe(),
                                  exclusive=self.exclusive, down=ours)  # fmt: skip

    def _unclaim(self) -> None:
        LinkOwners(self.ledger.path.parent).release(self.client.url, self.proxies, self._owner)

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry(
            "link_down", {"api": self.client.url, "proxies": self._mine}, self.describe()
        )

    def _apply(self) -> None:
        for proxy in self._mine:
            self.client.disable(proxy)

    def _heal(self) -> None:
        # Enabled only where no other fault still holds the link down: a shorter
        # overlapping fault must not end a longer one early.
        self.left_down = LinkOwners(self.ledger.path.parent).release(
            self.client.url,
            self._mine,
            self._owner,
            enable=lambda proxy: _ignore_missing(lambda: self.client.enable(proxy)),
        )
