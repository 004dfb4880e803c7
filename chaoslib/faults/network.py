"""Link faults, through the Toxiproxy client only: one code path for any Toxiproxy server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.errors import ConfigError
from chaoslib.faults import schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.flap import Flap
from chaoslib.faults.ledger import HealError, Ledger, LedgerEntry, register_healer
from chaoslib.faults.link_down import LinkDown, _ignore_missing
from chaoslib.faults.owners import LinkOwners, new_owner
from chaoslib.proxy import schema as toxic_schema
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError

# The toxics that count the statements they match (stats: matched, passed).
PROTOCOL_TOXICS = tuple(name for name, t in toxic_schema.SCHEMA.items() if t.counts)


class ToxicFault(Fault):
    """One toxic type on one link, in one or both directions."""

    def __init__(
        self,
        client: Toxiproxy,
        proxy: str,
        toxic_type: str,
        attributes: dict[str, Any],
        *,
        direction: str | None = None,
        toxicity: float = 1.0,
        ledger: Ledger | None = None,
    ) -> None:
        super().__init__(ledger=ledger)
        # Checked here as the server will judge them (chaoslib.proxy.schema), before any
        # request: a real Toxiproxy dies on some of these values.
        self.schema = toxic_schema.lookup(toxic_type)
        self.streams = self.schema.stream_list(direction or self.schema.default_stream)
        toxicity = toxic_schema.parse_toxicity(toxicity)
        attributes = toxic_schema.check_fault(toxic_type, attributes)
        self.client, self.proxy, self.type = client, proxy, toxic_type
        self.attributes, self.toxicity = attributes, toxicity
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
            if self.schema.counts:  # what it matched, read before it is gone
                _ignore_missing(lambda name=name: self._keep_stats(name))
            _ignore_missing(lambda name=name: self.client.remove_toxic(self.proxy, name))
        self._unclaim()

    def _keep_stats(self, name: str) -> None:
        for key, value in self.client.get_toxic(self.proxy, name).stats.items():
            self.stats[key] = self.stats.get(key, 0) + value

    def update(self, **attributes: Any) -> None:
        """Change the toxic's values while it holds (Toxiproxy's merge update)."""
        merged = toxic_schema.check_fault(self.type, {**self.attributes, **attributes})
        attributes = {k: merged[k] for k in attributes}
        self.attributes = merged
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

    def toxic(
        self,
        toxic_type: str,
        *,
        direction: str | None = None,
        toxicity: float = 1.0,
        **attributes: Any,
    ) -> ToxicFault:
        """Any toxic type of the schema (chaoslib.proxy.schema), by its attribute names;
        ``direction`` defaults to the type's own (downstream, or upstream for the toxics
        that read what the client sends)."""
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
        return self.toxic(
            "latency", latency=ms, jitter=jitter, direction=direction, toxicity=toxicity
        )

    def bandwidth(
        self, kbps: int, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self.toxic("bandwidth", rate=kbps, direction=direction, toxicity=toxicity)

    def stall(self, *, direction: str = "both", toxicity: float = 1.0) -> ToxicFault:
        """Hold all data without closing (bandwidth 0); healing lets it flow on."""
        return self.toxic("bandwidth", rate=0, direction=direction, toxicity=toxicity)

    def timeout(
        self, ms: int = 0, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self.toxic("timeout", timeout=ms, direction=direction, toxicity=toxicity)

    def reset_peer(
        self, ms: int = 0, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self.toxic("reset_peer", timeout=ms, direction=direction, toxicity=toxicity)

    def slicer(
        self,
        average_size: int,
        size_variation: int = 0,
        delay_us: int = 0,
        *,
        direction: str = "downstream",
        toxicity: float = 1.0,
    ) -> ToxicFault:
        return self.toxic(
            "slicer",
            average_size=average_size,
            size_variation=size_variation,
            delay=delay_us,
            direction=direction,
            toxicity=toxicity,
        )

    def limit_data(
        self, nbytes: int, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self.toxic("limit_data", bytes=nbytes, direction=direction, toxicity=toxicity)

    def slow_close(
        self, ms: int, *, direction: str = "downstream", toxicity: float = 1.0
    ) -> ToxicFault:
        return self.toxic("slow_close", delay=ms, direction=direction, toxicity=toxicity)

    def pg_query(self, pattern: str, *, action: str = "delay", **attributes: Any) -> ToxicFault:
        """Statements matching ``pattern`` only: delay_ms, or sqlstate/message for errors."""
        return self.toxic("pg_query", pattern=pattern, action=action, **attributes)

    def redis_command(
        self, commands: list[str], *, action: str = "delay", **attributes: Any
    ) -> ToxicFault:
        """Commands named in ``commands`` only: delay_ms, or error text for errors."""
        return self.toxic("redis_command", commands=commands, action=action, **attributes)

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


# -- how a stranger (chaos.reset) heals what these faults recorded ---------------------
def _undo(call: Callable[[], Any], what: str) -> None:
    try:
        call()
    except ToxiproxyError as exc:
        if exc.status != 404:  # a toxic or proxy that is gone is healed
            raise HealError(f"{what}: {exc}") from None


@register_healer("toxic")
def _heal_toxic(entry: LedgerEntry, stack: object = None) -> str:
    target = entry.target
    client = Toxiproxy(target["api"], timeout=5)
    for name in target["toxics"]:
        _undo(
            lambda name=name: client.remove_toxic(target["proxy"], name),
            f"removing {name} from {target['proxy']} at {target['api']}",
        )
    return f"removed toxics {', '.join(target['toxics'])} from {target['proxy']}"


@register_healer("link_down")  # written by LinkDown and by Flap
def _heal_link_down(entry: LedgerEntry, stack: object = None) -> str:
    target = entry.target
    client = Toxiproxy(target["api"], timeout=5)
    for proxy in target["proxies"]:
        _undo(lambda proxy=proxy: client.enable(proxy), f"enabling {proxy} at {target['api']}")
    return f"enabled {', '.join(target['proxies'])}"
