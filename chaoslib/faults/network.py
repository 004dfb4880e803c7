"""Link faults, through the Toxiproxy client only: one code path for any Toxiproxy server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from chaoslib import schedule
from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.errors import ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.flap import Flap
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.faults.link_down import LinkDown, _ignore_missing
from chaoslib.faults.owners import LinkOwners, new_owner
from chaoslib.toxiproxy import Toxiproxy

DIRECTIONS = {
    "upstream": ("upstream",),
    "downstream": ("downstream",),
    "both": ("upstream", "downstream"),
}


PROTOCOL_TOXICS = ("pg_query", "redis_command")


def _streams(direction: str) -> tuple[str, ...]:
    try:
        return DIRECTIONS[direction]
    except KeyError:
        raise ConfigError(
            f"direction {direction!r} is not valid; use upstream, downstream or both"
        ) from None


def _check(value: Any, what: str, minimum: int = 0) -> int:
    # Validated here too, because a real Toxiproxy dies on some of these values.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{what} must be a whole number >= {minimum} (got {value!r})")
    return value


class ToxicFault(Fault):
    """One toxic type on one link, in one or both directions."""

    def __init__(
        self,
        client: Toxiproxy,
        proxy: str,
        toxic_type: str,
        attributes: dict[str, Any],
        *,
        direction: str = "downstream",
        toxicity: float = 1.0,
        ledger: Ledger | None = None,
    ) -> None:
        super().__init__(ledger=ledger)
        if not 0 <= toxicity <= 1:
            raise ConfigError(f"toxicity must be between 0 and 1 (got {toxicity})")
        self.client, self.proxy, self.type = client, proxy, toxic_type
        self.attributes, self.toxicity = attributes, toxicity
        self.streams = _streams(direction)
        tag = uuid.uuid4().hex[:6]
        self.names = {stream: f"chaos_{toxic_type}_{stream}_{tag}" for stream in self.streams}
        self.name = f"{toxic_type}@{proxy}"
        self.stats: dict[str, int] = {}  # a protocol toxic's matched/passed counts, kept at heal
        self._owner = new_owner()

    def _claim(self) -> None:
        owners = LinkOwners(self.ledger.path.parent)
        owners.claim(self.client.url, [self.proxy], self._owner, self.describe(),
                     exclusive=self.exclusive)  # fmt: skip

    def _unclaim(self) -> None:
        LinkOwners(self.ledger.path.parent).release(self.client.url, [self.proxy], self._owner)

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in self.attributes.items())
        return f"{self.type}({attrs}) on {self.proxy} [{'+'.join(self.streams)}]"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry(
            "toxic",
            {"api": self.client.url, "proxy": self.proxy, "toxics": list(self.names.values())},
            self.describe(),
        )

    def _apply(self) -> None:
        for stream, name in self.names.items():
            self.client.add_toxic(
                self.proxy,
                self.type,
                name=name,
                stream=stream,
                toxicity=self.toxicity,
                attributes=self.attributes,
            )

    def _heal(self) -> None:
        for name in self.names.values():
            if self.type in PROTOCOL_TOXICS:  # what it matched, read before it is gone
                _ignore_missing(lambda name=name: self._keep_stats(name))
            _ignore_missing(lambda name=name: self.client.remove_toxic(self.proxy, name))
        self._unclaim()

    def _keep_stats(self, name: str) -> None:
        for key, value in self.client.get_toxic(self.proxy, name).stats.items():
            self.stats[key] = self.stats.get(key, 0) + value

    def update(self, **attributes: int) -> None:
        """Change the toxic's values while it holds (Toxiproxy's merge update)."""
        self.attributes = {**self.attributes, **attributes}
        for name in self.names.values():
            self.client.update_toxic(self.proxy, name, attributes=attributes)


class Link:
    """A named network path through one proxy; its methods build faults on it."""

    def __init__(
        self, name: str, client: Toxiproxy | None = None, *, ledger: Ledger | None = None
    ) -> None:
        self.name = name
        self.client = client or Toxiproxy()
        self.ledger = ledger

    def _toxic(
        self, toxic_type: str, attributes: dict[str, Any], direction: str, toxicity: float
    ) -> ToxicFault:
        return ToxicFault(
            self.client,
            self.name,
            toxic_type,
            attributes,
            direction=direction,
            toxicity=toxicity,
            ledger=self.ledger,
        )

    def latency(
        self, ms: int, jitter: int = 0, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self._toxic(
            "latency",
            {"latency": _check(ms, "latency ms"), "jitter": _check(jitter, "jitter ms")},
            direction,
            toxicity,
        )

    def bandwidth(
        self, kbps: int, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self._toxic(
            "bandwidth", {"rate": _check(kbps, "bandwidth KB/s")}, direction, toxicity
        )

    def stall(self, *, direction: str = "both", toxicity: float = 1.0) -> ToxicFault:
        """Hold all data without closing (bandwidth 0); healing lets it flow on."""
        return self._toxic("bandwidth", {"rate": 0}, direction, toxicity)

    def timeout(
        self, ms: int = 0, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self._toxic("timeout", {"timeout": _check(ms, "timeout ms")}, direction, toxicity)

    def reset_peer(
        self, ms: int = 0, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self._toxic(
            "reset_peer", {"timeout": _check(ms, "reset_peer timeout ms")}, direction, toxicity
        )

    def slicer(
        self,
        average_size: int,
        size_variation: int = 0,
        delay_us: int = 0,
        *,
        direction: str = "downstream",
        toxicity: float = 1.0,
    ) -> ToxicFault:
        _check(average_size, "slicer average_size", 1)
        if _check(size_variation, "slicer size_variation") >= average_size:
            raise ConfigError("slicer size_variation must be smaller than average_size")
        attrs = {
            "average_size": average_size,
            "size_variation": size_variation,
            "delay": _check(delay_us, "slicer delay µs"),
        }
        return self._toxic("slicer", attrs, direction, toxicity)

    def limit_data(
        self, nbytes: int, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self._toxic(
            "limit_data", {"bytes": _check(nbytes, "limit_data bytes")}, direction, toxicity
        )

    def slow_close(
        self, ms: int, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self._toxic(
            "slow_close", {"delay": _check(ms, "slow_close delay ms")}, direction, toxicity
        )

    def pg_query(self, pattern: str, *, action: str = "delay", **attributes: Any) -> ToxicFault:
        """Statements matching ``pattern`` only: delay_ms, or sqlstate/message for errors."""
        return self._toxic(
            "pg_query", {"pattern": pattern, "action": action, **attributes}, "upstream", 1.0
        )

    def redis_command(
        self, commands: list[str], *, action: str = "delay", **attributes: Any
    ) -> ToxicFault:
        """Commands named in ``commands`` only: delay_ms, or error text for errors."""
        return self._toxic(
            "redis_command", {"commands": commands, "action": action, **attributes}, "upstream", 1.0
        )

    def down(self) -> LinkDown:
        return LinkDown(self.client, [self.name], ledger=self.ledger)

    def flap(
        self,
        period: float,
        down_for: float,
        cycles: int,
        *,
        jitter: float = 0.0,
        seed: int | None = None,
        clock: Clock = REAL_CLOCK,
        on_change: Callable[[str, float], None] | None = None,
    ) -> Flap:
        return flap_together(
            [self], period, down_for, cycles, jitter=jitter, seed=seed, clock=clock,
            on_change=on_change,
        )  # fmt: skip


def partition(links: list[Link]) -> LinkDown:
    """Several links down at once (they must share one Toxiproxy server)."""
    if not links:
        raise ConfigError("a partition needs at least one link")
    return LinkDown(links[0].client, [link.name for link in links], ledger=links[0].ledger)


def flap_together(
    links: list[Link],
    period: float,
    down_for: float,
    cycles: int,
    *,
    jitter: float = 0.0,
    seed: int | None = None,
    clock: Clock = REAL_CLOCK,
    on_change: Callable[[str, float], None] | None = None,
) -> Flap:
    """Several links down and up together on one schedule (they must share one server)."""
    if not links:
        raise ConfigError("a flap needs at least one link")
    windows = schedule.flap(period, down_for, cycles, jitter=jitter, seed=seed)
    return Flap(
        links[0].client,
        [link.name for link in links],
        windows,
        clock=clock,
        ledger=links[0].ledger,
        on_change=on_change,
    )
