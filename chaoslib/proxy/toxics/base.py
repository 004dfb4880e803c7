"""The toxic contract: a base class owns the chunk loop, a toxic only says what it does.

A toxic type is a subclass with a ``type_name``; its attributes, their bounds and
the streams it accepts are its entry in :mod:`chaoslib.proxy.schema`, from which
the class gets an ``Attributes`` dataclass (the JSON ``attributes``, typed). The
base class gives every toxic interruptible sleeps: when a toxic is updated or
removed, a chunk that sleeps inside it is forwarded at once instead of being
dropped (Toxiproxy's rule for toxic authors).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from chaoslib.proxy import schema as toxic_schema
from chaoslib.proxy.errors import ApiError, bad_request
from chaoslib.proxy.schema import INT_MAX, STREAMS, BadValue, ToxicType

__all__ = ["INT_MAX", "STREAMS", "Chunk", "ConnectionContext", "Toxic", "jittered", "parse_clients"]


@dataclass
class Chunk:
    data: bytes
    read_at: float  # loop time when the proxy read it; latency counts from here
    # Frames a protocol toxic already parsed on the inline path, handed to its pump
    # (``data`` is their bytes, so a chain without that toxic still forwards them).
    frames: list[Any] | None = None


class ConnectionContext(Protocol):
    """What a toxic may do to the connection it runs on.

    :class:`chaoslib.proxy.connection.Connection` implements it; tests use a fake."""

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
    """One configured toxic on one proxy. Subclasses set ``type_name``; the rest comes
    from its schema entry (``Attributes``, ``streams``)."""

    type_name: ClassVar[str] = ""
    schema: ClassVar[ToxicType] = ToxicType("", "")
    Attributes: ClassVar[type] = type(None)
    # Protocol toxics read what the client sends: they default to, and only accept, upstream.
    streams: ClassVar[tuple[str, ...]] = STREAMS
    # Whether the toxic can run synchronously on the fast path (``run_inline``).
    inline: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[Toxic]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.type_name:
            return
        entry = toxic_schema.SCHEMA.get(cls.type_name)
        if entry is None:
            # A type outside the schema (a test's, say) may only be one without attributes.
            if dataclasses.is_dataclass(cls.Attributes) and dataclasses.fields(cls.Attributes):
                raise TypeError(
                    f"toxic type {cls.type_name!r} has attributes but no entry in "
                    "chaoslib.proxy.schema.SCHEMA; add one there"
                )
            entry = ToxicType(cls.type_name, "", streams=cls.streams)
        else:
            cls.Attributes = _attributes_class(entry)
        cls.schema, cls.streams = entry, entry.streams
        Toxic.registry[cls.type_name] = cls

    def __init__(self, name: str, stream: str, toxicity: float, attributes: Any) -> None:
        self.name = name
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = attributes
        self.clients: tuple[Network, ...] = ()  # empty: every client
        self._sleepers: set[asyncio.Future[bool]] = set()
        self.removed = False  # set before the wake-up, so a woken loop knows to stop

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

    async def pipe(self, chunk: Chunk, ctx: ConnectionContext, state: Any) -> AsyncIterator[bytes]:
        """Turn one chunk into zero or more chunks for the next toxic. Default: pass through."""
        yield chunk.data

    def run_inline(
        self, data: bytes, ctx: ConnectionContext, state: Any
    ) -> tuple[bytes, Chunk | None]:
        """For ``inline`` toxics: what to forward now, and what must wait for the pump."""
        raise NotImplementedError

    async def on_eof(self, ctx: ConnectionContext, state: Any) -> bool:
        """The stream ended. Return False if the toxic closed the connection itself."""
        return True

    async def on_connect(self, ctx: ConnectionContext, state: Any) -> None:
        """The client connected; the upstream opens once every toxic returns."""

    def held(self, state: Any) -> bytes:
        """Bytes kept back (part of a frame) to hand on when the toxic is removed."""
        return b""

    def on_attach(self, ctx: ConnectionContext, state: Any) -> None:
        """The toxic became active on a connection (it opened, or the toxic was added)."""

    def on_detach(self, ctx: ConnectionContext, state: Any) -> None:
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
    async def sleep(self, ctx: ConnectionContext, seconds: float) -> bool:
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

    def retire(self) -> None:
        """The toxic was removed: say so, then wake every sleeper to see it."""
        self.removed = True
        self.interrupt()

    def interrupt(self) -> None:
        """Wake every sleeper (the toxic was updated or removed)."""
        for waiter in list(self._sleepers):
            _resolve(waiter, False)

    # -- (de)serialisation ------------------------------------------------------------
    def attributes_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for a in self.schema.attrs:
            value = getattr(self.attributes, a.name)
            if a.extension and value == a.default:
                continue
            out[a.name] = list(value) if isinstance(value, tuple) else value
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
        merged = dataclasses.asdict(base) if base is not None else None
        try:
            return cls.Attributes(**cls.schema.parse(raw, merged))
        except BadValue as exc:
            raise api_error(exc) from None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def api_error(exc: BadValue) -> ApiError:
    """The schema's refusal as the API words it (Toxiproxy's prefix for a body it cannot use)."""
    return bad_request(f"bad request body: {exc.message}" if exc.body else exc.message)


def parse_clients(raw: Any, base: tuple[Network, ...] = ()) -> tuple[Network, ...]:
    """The ``clients`` attribute of a request's ``attributes``; ``base`` if it has none."""
    if not isinstance(raw, dict) or "clients" not in raw:
        return base
    try:
        return toxic_schema.parse_clients(raw["clients"])
    except BadValue as exc:
        raise api_error(exc) from None


def _attributes_class(entry: ToxicType) -> type:
    """A frozen dataclass of the entry's attributes, so a toxic reads ``attributes.rate``."""
    kinds = {"int": int, "str": str, "list": tuple}
    fields = [(a.name, kinds[a.kind], dataclasses.field(default=a.default)) for a in entry.attrs]
    camel = "".join(part.title() for part in entry.name.split("_"))
    return dataclasses.make_dataclass(f"{camel}Attributes", fields, frozen=True)


def jittered(ms: int, jitter: int, rng: random.Random) -> float:
    """``ms`` ± a uniform ``jitter``, in seconds (latency, connect_delay)."""
    if jitter:
        ms += rng.randrange(-jitter, jitter)
    return ms / 1000


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)
