"""Who holds which link, across processes: so one fault's heal never undoes another's.

Every link fault claims the links it acts on while it is applied. A claim names
its owner (one fault object), its process (pid and start time, so a reused pid
is not taken for a live holder) and whether it holds the link *down*. A link is
enabled again only when the last down claim on it goes: two overlapping
``redis-down`` runs keep the link down until the longer one heals.

Claims of processes that are gone are dropped whenever the file is read. What
such a process left applied is the ledger's to heal (``invoke chaos.reset``).

Why a file of its own and not the ledger: "am I the last holder?" and the enable
that follows must happen under one lock, or two heals at the same moment would
each leave the link to the other and it would stay down. The ledger offers only
add and remove, each under its own lock, and it records how to undo a fault,
not who shares a link with whom.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import psutil
from loguru import logger

from chaoslib.errors import ConfigError
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.state import StateFileError, chaos_home, locked, read_json, write_json


@cache
def _started(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def _alive(pid: int, started: float) -> bool:
    try:
        proc = psutil.Process(pid)
        # The same pid with another start time is another process: the holder is gone.
        return abs(proc.create_time() - started) < 0.5 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass(frozen=True)
class Claim:
    """One owner's hold on one link of one proxy server."""

    api: str
    link: str
    owner: str
    description: str
    down: bool = False  # this owner wants the link disabled now
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=lambda: _started(os.getpid()))
    since: float = field(default_factory=time.time)

    def holds(self, api: str, link: str) -> bool:
        return self.api == api and self.link == link


class LinkHeld(ConfigError):
    """A link is already held by another live process, and this fault may not share it."""

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        held = time.time() - claim.since
        super().__init__(
            f"link {claim.link!r} is already held by pid {claim.pid} ({claim.description}, "
            f"for {held:.1f}s); wait until that fault heals"
        )


def new_owner() -> str:
    return uuid.uuid4().hex[:12]


class LinkOwners:
    """The claims file in the chaos home, read and changed only under its lock."""

    def __init__(self, home: Path | None = None) -> None:
        self.path = chaos_home(home) / "links.json"
        self._lock = self.path.with_suffix(".lock")

    @contextmanager
    def _claims(self) -> Iterator[list[Claim]]:
        """The live claims, under the lock; what the block leaves in the list is written back."""
        with locked(self._lock):
            try:
                data = read_json(self.path)
            except StateFileError as exc:
                # A heal must not fail on a damaged claims file: it then heals as if no one
                # else held the link (what chaoslib did before claims), and says so.
                logger.warning("ignoring the link claims: {}", exc)
                data = None
            raw = data.get("claims") if isinstance(data, dict) else None
            raw = raw if isinstance(raw, list) else []
            claims = [Claim(**c) for c in raw if isinstance(c, dict) and _valid(c)]
            live = [c for c in claims if _alive(c.pid, c.started)]
            before = list(live)
            yield live
            if live != before or len(live) != len(raw):
                try:
                    write_json(self.path, {"claims": [asdict(c) for c in live]})
                except OSError as exc:  # a heal must not fail here either (see above)
                    logger.warning("cannot record the link claims in {}: {}", self.path, exc)

    def holders(self, api: str, links: Iterable[str]) -> list[Claim]:
        """Live claims on any of ``links``, other processes' and this one's."""
        wanted = set(links)
        with self._claims() as claims:
            return [c for c in claims if c.api == api and c.link in wanted]

    def claim(
        self,
        api: str,
        links: Iterable[str],
        owner: str,
        description: str,
        *,
        exclusive: bool = False,
        down: Callable[[list[Claim]], list[str]] | None = None,
    ) -> list[str]:
        """Claim ``links`` for ``owner``; returns the links it holds down.

        ``exclusive``: refuse (:class:`LinkHeld`) if another live process holds any of them.
        ``down``: given the live claims, says which links this owner takes down; it runs
        under the lock, so no heal can enable a link between that decision and the claim.
        """
        links = list(dict.fromkeys(links))
        with self._claims() as claims:
            if exclusive:
                for c in claims:
                    if c.api == api and c.link in links and c.pid != os.getpid():
                        raise LinkHeld(c)
            taken = down(claims) if down else []
            claims[:] = [c for c in claims if c.owner != owner]
            claims.extend(
                Claim(api, link, owner, description, down=link in taken) for link in links
            )
            return taken

    def set_down(
        self, api: str, links: Iterable[str], owner: str, down: bool, act: Callable[[str], None]
    ) -> list[str]:
        """Mark ``owner``'s claims on ``links`` down (or up) and act on each link it may:
        taking a link down always, bringing it up only when no other owner holds it down.
        Returns the links left down for other owners."""
        links = list(links)
        with self._claims() as claims:
            kept = []
            for i, c in enumerate(claims):
                if c.owner == owner and c.link in links and c.api == api:
                    claims[i] = Claim(**{**asdict(c), "down": down})
            for link in links:
                others = _others_down(claims, api, link, owner)
                if down or not others:
                    act(link)  # under the lock: see the module docstring
                else:
                    kept.append(link)
            return kept

    def release(
        self,
        api: str,
        links: Iterable[str],
        owner: str,
        enable: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Drop ``owner``'s claims; ``enable`` each of ``links`` no other owner holds down.
        Returns the links left down for other owners."""
        links = list(links)
        with self._claims() as claims:
            claims[:] = [c for c in claims if c.owner != owner]
            kept = [link for link in links if _others_down(claims, api, link, owner)]
            if enable is not None:
                for link in links:
                    if link not in kept:
                        enable(link)
            return kept


def _others_down(claims: list[Claim], api: str, link: str, owner: str) -> bool:
    return any(c.holds(api, link) and c.down and c.owner != owner for c in claims)


_FIELDS = {"api": str, "link": str, "owner": str, "description": str, "pid": int}


def _valid(raw: dict[str, Any]) -> bool:
    # An edited or damaged file must not break a heal: a claim that is not one is dropped.
    return all(isinstance(raw.get(k), t) for k, t in _FIELDS.items()) and set(raw) <= {
        *_FIELDS,
        "down",
        "started",
        "since",
    }


def left_by_dead_runs(ledger: Ledger, api: str, links: Iterable[str]) -> list[LedgerEntry]:
    """Entries on ``links`` whose run is gone: their faults are still in place, unhealed.

    A new fault on such a link would find it already down (or slow), touch nothing, and
    its heal would leave the dead run's fault behind while reporting a recovery."""
    wanted = set(links)
    found = []
    for entry in ledger.scan()[0]:
        names = entry.target.get("proxies") or [entry.target.get("proxy")]
        if entry.target.get("api") != api or not wanted & set(names):
            continue
        if not _ran_then(entry.pid, entry.applied_at):
            found.append(entry)
    return found


def _ran_then(pid: int, applied_at: float) -> bool:
    """Is ``pid`` alive, and the process that applied the entry (started before it)?"""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= applied_at + 1
    except (psutil.Error, ValueError):
        return False
