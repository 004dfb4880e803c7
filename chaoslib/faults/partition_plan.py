"""What a client partition cuts, and what a probe of it found: plain records.

Their own module, so that the local and the compose probes share them without either
importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionPlan:
    link: str  # the proxy to put the toxics on
    clients: tuple[str, ...]  # source addresses for client-scoped toxics; () for a per-client proxy
    direction: str  # both, to (client to service), from (service to client)
    how: str
    client: str = ""  # the profile's client, for a per-client proxy


@dataclass(frozen=True)
class ProbeResult:
    link: str
    source: str  # where the probe was made from, as the table shows it
    expect_cut: bool
    answered: bool
    seconds: float
    error: str = ""  # the probe could not be made: it proves neither a cut nor a working link

    @property
    def as_expected(self) -> bool:
        return not self.error and self.answered != self.expect_cut
