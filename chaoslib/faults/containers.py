"""The container a ledger entry names, found again by a stranger that heals the entry
(``chaos.reset``, another process): for the healers of service, packet and network faults."""

from __future__ import annotations

from chaoslib.errors import ServiceError
from chaoslib.faults.ledger import HealError, LedgerEntry
from chaoslib.services.docker import DockerService


def container_of(entry: LedgerEntry) -> DockerService:
    """The DockerService of ``entry.target["container"]``; :class:`HealError` when there is
    no engine to ask (kept for the next reset) or the container is gone (dropped)."""
    name = entry.target["container"]
    try:
        found = DockerService.find(name=name)
    except ServiceError as exc:
        raise HealError(f"{entry.description}: no Docker engine to heal it ({exc})") from None
    if not found:
        raise HealError(f"container {name} is gone; {entry.description} cannot be undone",
                        gone=True)  # fmt: skip
    return found[0]
