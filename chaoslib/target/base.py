"""What faults act on: the proxy API, the links through it, the services, and the ledger.

One object for every front end: the fault tasks, ``chaos.run``, the pytest plugin and
the suite's systems (which hold one). A link is a proxy on the Toxiproxy server: the URL
clients use through it, the stack service its upstream is, and the profile's client that
uses it. The *direct* URLs reach Redis and PostgreSQL without any proxy, so that observers
and checks read through something no fault touches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaoslib.errors import ConfigError
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.network import Link
from chaoslib.services.base import Service
from chaoslib.toxiproxy.client import Toxiproxy

if TYPE_CHECKING:
    from chaoslib.services.stack import Stack

# The stack services a link can lead to, and the words a user may write for them.
STACK_SERVICES = {"redis": "Redis", "postgres": "the database (PostgreSQL)"}


@dataclass
class Target:
    toxiproxy: Toxiproxy
    # link name -> the URL clients use (through the proxy); "" when this host cannot reach
    # it (a compose proxy that publishes no port): a fault can still name it.
    link_urls: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    ledger: Ledger | None = None
    # "local" (the embedded stack) or "compose" (a docker-compose project's containers).
    kind: str = "local"
    # The service running the proxy server (the toxiproxy container in compose mode).
    proxy_service: Service | None = None
    # link -> the stack service its upstream is (redis, postgres), read from the proxy's
    # upstream address, never from the link's name; a link to anything else is absent.
    link_services: dict[str, str] = field(default_factory=dict)
    # link -> the profile's client that uses it (the profile's ``links``); shared: absent.
    link_clients: dict[str, str] = field(default_factory=dict)
    # redis / postgres -> a URL that reaches the server without any proxy (for observers).
    direct: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_stack(cls, stack: Stack, profile_links: dict | None = None) -> Target:
        """The embedded stack's servers, and every proxy on its server whose upstream is
        its Redis or PostgreSQL: the stack's own links and any per-client proxy a system
        created. ``profile_links`` (a profile's ``links``) says which client uses which."""
        if not stack.proxy_url:
            raise ConfigError("the stack has no proxy server; start it with chaos stack.up")
        target = cls(
            toxiproxy=Toxiproxy(stack.proxy_url),
            services=dict(stack.services),
            ledger=Ledger(stack.home),
            proxy_service=stack.services.get("toxiproxy"),
            direct=direct_urls(stack),
        )
        for name, info in stack.link_urls().items():
            target.add_link(name, info["url"])
        for name, proxy in sorted(target.toxiproxy.proxies().items()):
            for service in STACK_SERVICES:
                server = stack.services.get(service)
                if server is not None and _same_address(proxy.upstream, server.address):
                    known = target.link_urls.get(name)
                    url = server.url_at(proxy.listen_port) if known is None else known
                    target.add_link(name, url, service=service)
        target.use_profile_links(profile_links)
        return target

    def add_link(self, name: str, url: str, *, service: str = "", client: str = "") -> None:
        """A link faults may act on: ``service`` is the stack service it leads to, ``client``
        the profile's client that uses it (none: a shared link)."""
        self.link_urls[name] = url
        if service:
            self.link_services[name] = service
        if client:
            self.link_clients[name] = client

    def link(self, name: str) -> Link:
        if name not in self.link_urls:
            raise ConfigError(
                f"unknown link {name!r}; this system has: {', '.join(sorted(self.link_urls))}"
            )
        return Link(name, self.toxiproxy, ledger=self.ledger)

    def url(self, link: str) -> str:
        self.link(link)
        if not self.link_urls[link]:
            raise ConfigError(
                f"link {link!r} is not published on this host, so it cannot be probed from here; "
                "publish its listen port (see docker-compose.chaos.yml)"
            )
        return self.link_urls[link]

    def probe_url(self, link: str) -> str | None:
        """A URL through ``link`` that this host can use, if the link is reachable from here."""
        return self.link_urls.get(link) or None

    def links_to(self, service: str, client: str | None = None) -> list[str]:
        """Every link whose upstream is ``service`` (redis, postgres): shared links first.

        With ``client``, only that client's links (the profile's ``links``).
        """
        found = [
            name
            for name in self.link_urls
            if self.link_services.get(name) == service
            and (client is None or self.link_clients.get(name) == client)
        ]
        return sorted(found, key=lambda name: name in self.link_clients)

    def select_links(
        self, service: str | None, names: Iterable[str] = (), client: str | None = None
    ) -> list[str]:
        """The links a fault task acts on: every link to ``service`` (or, without one, the
        links named), narrowed to ``names`` and to ``client``'s links. Errors list what is accepted.
        """
        if service is not None and service not in STACK_SERVICES:
            raise ConfigError(f"--service={service!r}; accepted: {', '.join(STACK_SERVICES)}")
        what = STACK_SERVICES[service] if service else "this system"
        candidates = self.links_to(service) if service else list(self.link_urls)
        if not candidates:
            upstreams = ", ".join(sorted(self.link_urls)) or "none"
            raise ConfigError(f"no link of this proxy leads to {what} (links: {upstreams})")
        if client:
            clients = sorted(set(self.link_clients.values()))
            if not clients:
                raise ConfigError(
                    f"--client={client!r}: no profile names the clients of these links; "
                    "give one with --profile (e.g. --profile local)"
                )
            if client not in clients:
                raise ConfigError(
                    f"--client={client!r} is not a client; accepted: {', '.join(clients)}"
                )
            candidates = [name for name in candidates if self.link_clients.get(name) == client]
            if not candidates:
                raise ConfigError(f"client {client!r} has no link to {what} on this proxy")
        chosen = list(dict.fromkeys(names))
        unknown = [name for name in chosen if name not in candidates]
        if unknown:
            raise ConfigError(
                f"unknown link {', '.join(map(repr, unknown))} for {what}; "
                f"accepted: {', '.join(candidates)}"
            )
        return chosen or candidates

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise ConfigError(
                f"unknown service {name!r}; this system has: {', '.join(sorted(self.services))}"
            ) from None

    def use_profile_links(self, profile_links: dict | None) -> None:
        """Which client uses which link (the profile's ``links``), for links that really
        exist on the proxy: a profile's link the proxy lacks names no client."""
        self.link_clients = {
            name: link.client
            for name, link in (profile_links or {}).items()
            if name in self.link_urls
        }


def direct_urls(stack: Stack) -> dict[str, str]:
    """The stack's Redis and PostgreSQL without any proxy in between."""
    return {name: stack.services[name].url for name in STACK_SERVICES if name in stack.services}


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _same_address(upstream: str, address: tuple[str, int]) -> bool:
    host, _, port = upstream.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or int(port) != address[1]:
        return False
    return host == address[0] or (host in LOOPBACK and address[0] in LOOPBACK)
