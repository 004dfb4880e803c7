"""The toxic contract: a base class owns the chunk loop, a toxic only says what it does.

A toxic type is a class with an ``Attributes`` dataclass. The dataclass *is*
the JSON schema of its ``attributes``: field names, integer types, defaults,
and the accepted ranges in each field's metadata. The base class gives every
toxic interruptible sleeps: when a toxic is updated or removed, a chunk that
sleeps inside it is forwarded at once instead of being dropped (Toxiproxy's
rule for toxic authors).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from chaoslib.proxy.errors import bad_request

STREAMS = ("upstream", "downstream")
INT_MAX = 2**63 - 1


MAX_TEXT = 4096


def attr(default: int = 0, *, minimum: int = 0, unit: str = "", maximum: int = INT_MAX) -> Any:
    """A toxic attribute: an integer with an accepted range, documented by its unit."""
    return field(
        default=default, metadata={"kind": "int", "min": minimum, "max": maximum, "unit": unit}
    )


def text(default: str = "", *, choices: tuple[str, ...] = (), extension: bool = False) -> Any:
    """A string attribute, optionally one of ``choices``.

    ``extension`` marks a field Toxiproxy's own toxic lacks: it is left out of the
    JSON while it has its default, so a Toxiproxy client sees what it expects."""
    return field(
        default=default, metadata={"kind": "str", "choices": choices, "extension": extension}
    )


def words(what: str) -> Any:
    """A list of strings (command names, for example); ``what`` names one item."""
    return field(default=(), metadata={"kind": "list", "what": what})


@dataclass
class Chunk:
    data: bytes
    read_at: float  # loop time when the proxy read it; latency counts from here
    # Frames a protocol toxic already parsed on the inline path, handed to its pump
    # (``data`` is their bytes, so a chain without that toxic still forwards them).
    frames: list[Any] | None = None


class LinkContext(Protocol):
    """What a toxic may do to the connection it runs on (implemented by the link)."""

    rng: random.Random
    loop: asyncio.AbstractEventLoop
    max_buffered: int  # bytes a direction may hold (the proxy's Limits)

    def close(self, *, reset: bool = False) -> None: ...

    @property
    def mid_stream(self) -> bool: ...

    def add_reply_tap(self, tap: Any) -> None: ...

    def remove_reply_tap(self, tap: Any) -> None: ...

    def reply(self, tap: Any, data: bytes) -> None: ...


class Toxic:
    """One configured toxic on one proxy. Subclasses set ``type_name`` and ``Attributes``."""

    type_name: ClassVar[str] = ""
    Attributes: ClassVar[type] = type(None)
    # Protocol toxics read what the client sends: they default to, and only accept, upstream.
    streams: ClassVar[tuple[str, ...]] = STREAMS
    # Whether the toxic can run synchronously on the fast path (``run_inline``).
    inline: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[Toxic]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            Toxic.registry[cls.type_name] = cls

    def __init__(self, name: str, stream: str, toxicity: float, attributes: Any) -> None:
        self.name = name
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = attributes
        self.clients: tuple[Network, ...] = ()  # empty: every client
        self._sleepers: set[asyncio.Future[bool]] = set()

    def applies_to(self, peer: str | None) -> bool:
        """Whether a connection from ``peer`` (the client's IP) gets this toxic."""
        if not self.clients:
            return True
        if peer is None:
            return False
        address = ipaddress.ip_address(peer.split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.clients)

    # -- what a toxic type overrides ---------------------------------------------
    def new_state(self) -> Any:
        """Per-connection, per-direction state that survives updates (limit_data's count)."""
        return None

    async def pipe(self, chunk: Chunk, ctx: LinkContext, state: Any) -> AsyncIterator[bytes]:
        """Turn one chunk into zero or more chunks for the next toxic. Default: pass through."""
        yield chunk.data

    def run_inline(self, data: bytes, ctx: LinkContext, state: Any) -> tuple[bytes, Chunk | None]:
        """For ``inline`` toxics: what to forward now, and what must wait for the pump."""
        raise NotImplementedError

    async def on_eof(self, ctx: LinkContext, state: Any) -> bool:
        """The stream ended. Return False if the toxic closed the connection itself."""
        return True

    async def on_connect(self, ctx: LinkContext, state: Any) -> None:
        """The client connected; the upstream opens once every toxic returns."""

    def held(self, state: Any) -> bytes:
        """Bytes kept back (part of a frame) to hand on when the toxic is removed."""
        return b""

    def on_attach(self, ctx: LinkContext, state: Any) -> None:
        """The toxic became active on a connection (it opened, or the toxic was added)."""

    def on_detach(self, ctx: LinkContext, state: Any) -> None:
        """The toxic was removed from a live connection."""

    @classmethod
    def acts_on_data_only(cls) -> bool:
        """Whether the toxic does nothing on a connection until a chunk or EOF passes.

        Such a toxic can be added to or removed from live connections lazily: each
        connection catches up on its next chunk, so an API call does not have to
        touch every connection of a busy proxy.
        """
        hooks = ("on_attach", "on_detach", "held", "on_connect")
        return not cls.inline and all(getattr(cls, h) is getattr(Toxic, h) for h in hooks)

    # -- what the base class provides ---------------------------------------------
    async def sleep(self, ctx: LinkContext, seconds: float) -> bool:
        """Sleep unless this toxic changes first; True if the full time passed."""
        if seconds <= 0:
            return True
        waiter: asyncio.Future[bool] = ctx.loop.create_future()
        handle = ctx.loop.call_later(seconds, _resolve, waiter, True)
        self._sleepers.add(waiter)
        try:
            return await waiter
        finally:
            handle.cancel()
            self._sleepers.discard(waiter)

    def interrupt(self) -> None:
        """Wake every sleeper (the toxic was updated or removed)."""
        for waiter in list(self._sleepers):
            _resolve(waiter, False)

    # -- (de)serialisation ------------------------------------------------------------
    def attributes_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self.attributes):
            value = getattr(self.attributes, f.name)
            if f.metadata.get("extension") and value == f.default:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> dict[str, Any]:
        attributes = self.attributes_json()
        if self.clients:
            attributes["clients"] = [str(network) for network in self.clients]
        return {
            "attributes": attributes,
            "name": self.name,
            "type": self.type_name,
            "stream": self.stream,
            # Go prints a whole float32 as 1, not 1.0.
            "toxicity": int(self.toxicity) if float(self.toxicity).is_integer() else self.toxicity,
        }

    @classmethod
    def parse_attributes(cls, raw: Any, base: Any | None = None) -> Any:
        """Build the Attributes dataclass from JSON, merged over ``base``; 400 on bad values."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise bad_request("bad request body: attributes must be a JSON object")
        values = dataclasses.asdict(base) if base is not None else {}
        for f in dataclasses.fields(cls.Attributes):
            if f.name in raw:
                values[f.name] = _parse_field(cls.type_name, f, raw[f.name])
        attrs = cls.Attributes(**values)
        cls.validate(attrs)
        return attrs

    @classmethod
    def validate(cls, attrs: Any) -> None:
        """Checks across fields, beyond each field's range."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_clients(raw: Any, base: tuple[Network, ...] = ()) -> tuple[Network, ...]:
    """The ``clients`` attribute any toxic accepts: source IPs or CIDRs it applies to."""
    if not isinstance(raw, dict) or "clients" not in raw:
        return base
    value = raw["clients"]
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 1000:
        raise bad_request(
            "bad request body: attribute clients must be a list of at most 1000 IP addresses "
            'or CIDRs, such as ["127.0.0.2", "10.0.0.0/8"]'
        )
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except (TypeError, ValueError):
            raise bad_request(
                f"attribute clients: {item!r} is not an IP address or CIDR; "
                'accepted: such as "127.0.0.2" or "10.0.0.0/8"'
            ) from None
    return tuple(networks)


def _parse_field(type_name: str, f: dataclasses.Field, value: Any) -> Any:
    meta, where = f.metadata, f"attribute {f.name} of {type_name}"
    if meta["kind"] == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_request(
                f"bad request body: {where} must be a number, got {type(value).__name__}"
            )
        if isinstance(value, float) and not value.is_integer():
            raise bad_request(f"bad request body: {where} must be a whole number")
        number = int(value)
        lo, hi, unit = meta["min"], meta["max"], meta["unit"]
        if not lo <= number <= hi:
            unit_text = f" {unit}" if unit else ""
            raise bad_request(f"{where} is {number}; accepted: {lo} to {hi}{unit_text}")
        return number
    if meta["kind"] == "str":
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise bad_request(
                f"bad request body: {where} must be a string of at most {MAX_TEXT} characters"
            )
        choices = meta["choices"]
        if choices and value not in choices:
            raise bad_request(f"{where} is {value!r}; accepted: {', '.join(choices)}")
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request(
            f"bad request body: {where} must be a list of {meta['what']} (non-empty strings)"
        )
    if len(value) > 1000:
        raise bad_request(f"{where} has {len(value)} items; accepted: at most 1000")
    return tuple(value)


def jittered(ms: int, jitter: int, rng: random.Random) -> float:
    """``ms`` ± a uniform ``jitter``, in seconds (latency, connect_delay)."""
    if jitter:
        ms += rng.randrange(-jitter, jitter)
    return ms / 1000


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)
