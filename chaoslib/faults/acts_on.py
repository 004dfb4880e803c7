"""What the partition faults read of the system they act on, as structural types.

The faults sit below whatever opens a system (a Target, a profile, the stack): they name
the pieces they use here, and any object with those pieces will do. So the fault layer
imports nothing from the layers above it (tests/unit/test_layers.py holds it to that).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chaoslib.faults.ledger import Ledger
from chaoslib.faults.network import Link
from chaoslib.toxiproxy.client import Toxiproxy


class LinkTarget(Protocol):
    """The proxy and the links a fault acts on (a :class:`chaoslib.target.Target`)."""

    @property
    def toxiproxy(self) -> Toxiproxy: ...

    @property
    def ledger(self) -> Ledger | None: ...

    @property
    def kind(self) -> str:
        """Either "local" (this host's loopback) or "compose" (a docker-compose project)."""

    @property
    def link_urls(self) -> Mapping[str, str]:
        """link -> the URL clients use through it; "" when this host cannot reach it."""

    @property
    def services(self) -> Mapping[str, Any]: ...

    @property
    def proxy_service(self) -> Any:
        """The container running the proxy (compose), or None."""

    def link(self, name: str) -> Link:
        """The link ``name``; a ConfigError naming the links there are if it is unknown."""


class ClientLink(Protocol):
    """A per-client link as a profile declares it: ``client`` reaches ``service``."""

    @property
    def name(self) -> str: ...

    @property
    def service(self) -> str: ...

    @property
    def client(self) -> str: ...


class ClientService(Protocol):
    @property
    def container(self) -> str | None:
        """The container it runs in, when not found by its service name."""


class Clients(Protocol):
    """Who uses which link (a :class:`chaoslib.profiles.profile.Profile` has these)."""

    @property
    def links(self) -> Mapping[str, ClientLink]: ...

    @property
    def services(self) -> Mapping[str, ClientService]: ...
