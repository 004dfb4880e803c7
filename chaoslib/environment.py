"""What faults and observers act on: the links, the proxy API and the services of a running system."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chaoslib.errors import ConfigError
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.network import Link
from chaoslib.services.base import Service
from chaoslib.stack import Stack
from chaoslib.toxiproxy import Toxiproxy

# The stack services a link can lead to, and the words a user may write for them.
STACK_SERVICES = {"redis": "Redis", "postgres": "the database (PostgreSQL)"}


@dataclass
class Environment:
    toxiproxy: Toxiproxy
    link_urls: dict[str, str]  # link name -> the URL clients use (through the proxy)
    services: dict[str, Service]
    ledger: Ledger
    # "local" (the embedded stack) or "compose" (a docker-compose project's containers).
    kind: str = "local"
    # The service running the proxy server (the toxiproxy container in compose mode).
    proxy_service: Service | None = None
    # link -> the stack service its upstream is (redis, postgres), read from the proxy's
    # upstream address, never from the link's name; a link to anything else is absent.
    link_services: dict[str, str] = field(default_factory=dict)
    # link -> the profile's client that uses it (the profile's ``links``); shared: absent.
    link_clients: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_stack(cls, home: Path | None = None, profile_links: dict | None = None) -> Environment:
        stack = Stack.load(home)
        if stack is None or not stack.proxy_url:
            raise ConfigError("No stack is running. Start one with: invoke stack.up")
        if not stack.all_running():
            down = [name for name, s in stack.services.items() if not s.is_running()]
            raise ConfigError(
                f"the stack is not healthy ({', '.join(down)} not running). "
                "Run invoke chaos.reset, or invoke stack.down and stack.up"
            )
        toxiproxy = Toxiproxy(stack.proxy_url)
        link_urls = {name: info["url"] for name, info in stack.link_urls().items()}
        link_services: dict[str, str] = {}
        # Every proxy on the stack's server whose upstream is the stack's Redis or
        # PostgreSQL: the stack's own links and any per-client proxy a system created.
        for name, proxy in sorted(toxiproxy.proxies().items()):
            for service in STACK_SERVICES:
                server = stack.services.get(service)
                if server is not None and _same_address(proxy.upstream, server.address):
                    link_services[name] = service
                    link_urls.setdefault(name, server.url_at(proxy.listen_port))
        return cls(
            toxiproxy=toxiproxy,
            link_urls=link_urls,
            services=dict(stack.services),
            ledger=Ledger(home),
            link_services=link_services,
            link_clients=_clients(profile_links, link_urls),
        )

    @classmethod
    def from_profile(
        cls, profile: str | None, home: Path | None = None, *, force: bool = False
    ) -> Environment:
        """The embedded stack (no profile, or one without compose), or a running compose project.

        A profile marked ``protected: true`` is refused unless ``force``.
        """
        if not profile:
            return cls.from_stack(home)
        from chaoslib.profile import load_profile

        loaded = load_profile(profile)
        loaded.guard(force)
        if loaded.compose is None:
            return cls.from_stack(home, loaded.links)
        from chaoslib.compose_env import compose_environment

        env = compose_environment(loaded, Ledger(home))
        env.link_clients = _clients(loaded.links, env.link_urls)
        return env

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


def _clients(profile_links: dict | None, link_urls: dict[str, str]) -> dict[str, str]:
    """Which client uses which link, for the links that really exist on the proxy."""
    return {name: link.client for name, link in (profile_links or {}).items() if name in link_urls}


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _same_address(upstream: str, address: tuple[str, int]) -> bool:
    host, _, port = upstream.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or int(port) != address[1]:
        return False
    return host == address[0] or (host in LOOPBACK and address[0] in LOOPBACK)
