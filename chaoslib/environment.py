"""What faults and observers act on: the links, the proxy API and the services of a running system."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaoslib.errors import ConfigError
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.network import Link
from chaoslib.services.base import Service
from chaoslib.stack import Stack
from chaoslib.toxiproxy import Toxiproxy


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

    @classmethod
    def from_stack(cls, home: Path | None = None) -> Environment:
        stack = Stack.load(home)
        if stack is None or not stack.proxy_url:
            raise ConfigError("No stack is running. Start one with: invoke stack.up")
        if not stack.all_running():
            down = [name for name, s in stack.services.items() if not s.is_running()]
            raise ConfigError(
                f"the stack is not healthy ({', '.join(down)} not running). "
                "Run invoke chaos.reset, or invoke stack.down and stack.up"
            )
        return cls(
            toxiproxy=Toxiproxy(stack.proxy_url),
            link_urls={name: info["url"] for name, info in stack.link_urls().items()},
            services=dict(stack.services),
            ledger=Ledger(home),
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
            return cls.from_stack(home)
        from chaoslib.compose_env import compose_environment

        return compose_environment(loaded, Ledger(home))

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

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise ConfigError(
                f"unknown service {name!r}; this system has: {', '.join(sorted(self.services))}"
            ) from None
