"""The narrow views the data plane's parts have of each other, so none imports the next.

A proxy owns its connections and a connection owns its two directions, but each part
reads only a little of its owner: a direction the toxic chain, its version and the byte
counters; a connection and the refusal log a few of the proxy's fields. Naming those
here, as protocols the owners satisfy, keeps ``proxy → protocols → connection →
direction`` a line rather than a circle, and shows in one place what each part may touch.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sized
from dataclasses import dataclass
from typing import Any, Protocol

from chaoslib.proxy.limits import Limits
from chaoslib.proxy.toxics.base import ConnectionContext, Toxic


@dataclass
class Counters:
    """Bytes a direction has read from its source and written to its destination."""

    received: int = 0
    sent: int = 0


class ChainView(Protocol):
    """What a direction reads of its proxy: the toxics on a stream and their version."""

    name: str
    toxics_version: int  # bumped on every add and remove; a direction compares it
    general_path: bool
    counters: Mapping[str, Counters]

    def chain(self, stream: str) -> list[Toxic]: ...


class ProxyView(ChainView, Protocol):
    """What a connection, the client side and the refusal log read of their proxy."""

    loop: asyncio.AbstractEventLoop
    rng: random.Random
    limits: Limits
    refused: int
    connections: Sized

    def adopt(self, conn: Any) -> None: ...

    def forget(self, conn: Any) -> None: ...

    def refuse(self, transport: asyncio.BaseTransport) -> None: ...

    def upstream_address(self) -> tuple[str, int]: ...


class DirectionOwner(ConnectionContext, Protocol):
    """What a direction reads of the connection it belongs to, beyond a toxic's view."""

    closed: bool
    peer: str | None

    def wants(self, toxic: Toxic) -> bool: ...
