"""An :class:`~chaoslib.environment.Environment` for a running docker-compose project.

The fault tasks use it with ``--profile compose``: the proxy API and the proxies
the toxiproxy container publishes on loopback, and the project's containers as
services (``redis`` and ``postgres`` name the stack's own, as with the embedded stack).
"""

from __future__ import annotations

from chaoslib.environment import Environment
from chaoslib.errors import ConfigError
from chaoslib.faults.ledger import Ledger
from chaoslib.profile import Profile
from chaoslib.services.docker import DockerService, docker_client
from chaoslib.toxiproxy import Toxiproxy


def _host_port(ports: dict, container_port: str) -> int | None:
    bound = ports.get(f"{container_port}/tcp") or []
    return int(bound[0]["HostPort"]) if bound else None


def compose_environment(profile: Profile, ledger: Ledger) -> Environment:
    compose = profile.compose
    assert compose is not None
    client = docker_client()
    containers = {s.name: s for s in DockerService.find(project=compose.project, client=client)}
    if compose.toxiproxy not in containers or not containers[compose.toxiproxy].is_running():
        files = " ".join(f"-f {f}" for f in compose.files)
        raise ConfigError(
            f"the compose project {compose.project} is not running (no {compose.toxiproxy} "
            f"container). Bring it up: docker-compose -p {compose.project} {files} up -d"
        )
    ports = containers[compose.toxiproxy].container.attrs["NetworkSettings"]["Ports"]
    api_port = _host_port(ports, "8474")
    if api_port is None:
        raise ConfigError(f"{compose.toxiproxy} does not publish its API port 8474 on this host")
    toxiproxy = Toxiproxy(f"http://127.0.0.1:{api_port}")
    link_urls: dict[str, str] = {}
    for name, proxy in toxiproxy.proxies().items():
        port = _host_port(ports, proxy.listen.rsplit(":", 1)[1])
        upstream_port = proxy.upstream.rsplit(":", 1)[1]
        if port is None:
            link_urls[name] = ""
        elif upstream_port == "6379":
            link_urls[name] = f"redis://127.0.0.1:{port}/0"
        else:
            link_urls[name] = compose.database_url.format(host="127.0.0.1", port=port)
    services: dict = dict(containers)
    services["redis"] = containers.get(compose.redis)
    services["postgres"] = containers.get(compose.postgres)
    return Environment(
        toxiproxy=toxiproxy,
        link_urls=link_urls,
        services={k: v for k, v in services.items() if v is not None},
        ledger=ledger,
        kind="compose",
        proxy_service=containers[compose.toxiproxy],
    )
