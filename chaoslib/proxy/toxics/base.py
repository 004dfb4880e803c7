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
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from chaoslib.proxy.errors import bad_request

STREAMS = ("upstream", "downstream")
INT_MAX = 2**63 - 1


def attr(default: int = 0, *, minimum: int = 0, unit: str = "", maximum: int = INT_MAX) -> Any:
    """A toxic attribute: an integer with an accepted range, documented by its unit."""
    return field(default=default, metadata={"min": minimum, "max": maximum, "unit": unit})


@dataclass
class Chunk:
    data: bytes
    read_at: float  # loop time when the proxy read it; latency counts from here


class LinkContext(Protocol):
    """What a toxic may do to the connection it runs on (implemented by the link)."""

    rng: random.Random
    loop: asyncio.AbstractEventLoop

    def close(self, *, reset: bool = False) -> None: ...


class Toxic:
    """One configured toxic on one proxy. Subclasses set ``type_name`` and ``Attributes``."""

    type_name: ClassVar[str] = ""
    Attributes: ClassVar[type] = type(None)
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
        self._sleepers: set[asyncio.Future[bool]] = set()

    # -- what a toxic type overrides ---------------------------------------------
    def new_state(self) -> Any:
        """Per-connection, per-direction state that survives updates (limit_data's count)."""
        return None

    async def pipe(self, chunk: Chunk, ctx: LinkContext, state: Any) -> AsyncIterator[bytes]:
        """Turn one chunk into zero or more chunks for the next toxic. Default: pass through."""
        yield chunk.data

    async def on_eof(self, ctx: LinkContext, state: Any) -> bool:
        """The stream ended. Return False if the toxic closed the connection itself."""
        return True

    def on_attach(self, ctx: LinkContext, state: Any) -> None:
        """The toxic became active on a connection (it opened, or the toxic was added)."""

    def on_detach(self, ctx: LinkContext, state: Any) -> None:
        """The toxic was removed from a live connection."""

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
    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dataclasses.asdict(self.attributes),
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
            if f.name not in raw:
                continue
            value = raw[f.name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad_request(
                    f"bad request body: attribute {f.name} of {cls.type_name} must be a number, "
                    f"got {type(value).__name__}"
                )
            if isinstance(value, float) and not value.is_integer():
                raise bad_request(
                    f"bad request body: attribute {f.name} of {cls.type_name} must be a whole number"
                )
            values[f.name] = int(value)
        attrs = cls.Attributes(**values)
        for f in dataclasses.fields(attrs):
            lo, hi, unit = f.metadata["min"], f.metadata["max"], f.metadata["unit"]
            value = getattr(attrs, f.name)
            if not lo <= value <= hi:
                unit_text = f" {unit}" if unit else ""
                raise bad_request(
                    f"attribute {f.name} of {cls.type_name} is {value}; "
                    f"accepted: {lo} to {hi}{unit_text}"
                )
        cls.validate(attrs)
        return attrs

    @classmethod
    def validate(cls, attrs: Any) -> None:
        """Checks across fields, beyond each field's range."""


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)
