"""A :class:`~chaoslib.target.base.Target` for a running docker-compose project.

The fault tasks use it with ``--profile compose``: the proxy API and the proxies
the toxiproxy container publishes on loopback, and the project's containers as
services (``redis`` and ``postgres`` name the stack's own, as with the embedded stack).
Which proxy leads to Redis or the database is read from its upstream host: the
profile's ``compose.redis`` / ``compose.postgres`` service, by any name or address
the container has on the project's networks.
"""

from __future__ import annotations

from typing import Any

from chaoslib.errors import ConfigError, ServiceError
from chaoslib.faults.ledger import Ledger
from chaoslib.profiles.profile import ComposeDef, Profile
from chaoslib.services.compose_facts import published_port
from chaoslib.services.docker import DockerService, docker_client
from chaoslib.target.base import Target
from chaoslib.toxiproxy.client import Toxiproxy


def _host_port(ports: dict, container_port: str) -> int | None:
    bound = ports.get(f"{container_port}/tcp") or []
    return int(bound[0]["HostPort"]) if bound else None


def _names(service: str, svc: DockerService | None) -> set[str]:
    """Every host name or address a proxy's upstream may use to reach this container."""
    names = {service}
    if svc is None:
        return names
    try:
        attrs: Any = svc.container.attrs
    except ServiceError:  # gone since it was listed: its service name still identifies it
        return names
    names.add(svc.container_name)
    for network in (attrs.get("NetworkSettings") or {}).get("Networks", {}).values():
        names.update(network.get("Aliases") or [])
        names.update(a for a in (network.get("IPAddress"), network.get("GlobalIPv6Address")) if a)
    return names


def _not_running(compose: ComposeDef) -> ConfigError:
    """How to bring the project up without pulling anything from a registry."""
    files = " ".join(f"-f {compose.path(f)}" for f in compose.files)
    variables = {
        "TOXIPROXY_IMAGE": "chaoslib/toxiproxy:local",
        **compose.env,
        "CHAOS_PROXY_CONFIG": str(compose.path(compose.proxy_config)),
    }
    env = " ".join(f"{k}={v}" for k, v in variables.items())
    return ConfigError(
        f"the compose project {compose.project} is not running (no {compose.toxiproxy} "
        f"container). Bring it up with the overlay files: {env} docker-compose -p "
        f"{compose.project} {files} up -d (chaoslib/toxiproxy:local and the other "
        "chaoslib/*:local images are built by scripts/docker-test-env.sh; without "
        "TOXIPROXY_IMAGE the overlay pulls ghcr.io/shopify/toxiproxy)"
    )


def _direct(compose: ComposeDef, containers: dict[str, DockerService]) -> dict[str, str]:
    """Redis and PostgreSQL on the ports their containers publish on loopback, if they do."""
    found = {}
    wanted = {"redis": (compose.redis, 6379, "redis://{host}:{port}/0"),
              "postgres": (compose.postgres, 5432, compose.database_url)}  # fmt: skip
    for name, (service, port, url) in wanted.items():
        container = containers.get(service)
        try:
            host_port = published_port(container, port) if container is not None else None
        except ServiceError:  # gone since it was listed: no direct URL to it
            host_port = None
        if host_port is not None:
            found[name] = url.format(host="127.0.0.1", port=host_port)
    return found


def compose_target(profile: Profile, ledger: Ledger) -> Target:
    compose = profile.compose
    assert compose is not None
    client = docker_client()
    containers = {s.name: s for s in DockerService.find(project=compose.project, client=client)}
    if compose.toxiproxy not in containers or not containers[compose.toxiproxy].is_running():
        raise _not_running(compose)
    ports = containers[compose.toxiproxy].container.attrs["NetworkSettings"]["Ports"]
    api_port = _host_port(ports, "8474")
    if api_port is None:
        raise ConfigError(f"{compose.toxiproxy} does not publish its API port 8474 on this host")
    toxiproxy = Toxiproxy(f"http://127.0.0.1:{api_port}")
    upstream_names = {
        "redis": _names(compose.redis, containers.get(compose.redis)),
        "postgres": _names(compose.postgres, containers.get(compose.postgres)),
    }
    link_urls: dict[str, str] = {}
    link_services: dict[str, str] = {}
    published: list[str] = []
    for name, proxy in sorted(toxiproxy.proxies().items()):
        host = proxy.upstream.rpartition(":")[0].strip("[]")
        service = next((s for s, known in upstream_names.items() if host in known), "")
        port = _host_port(ports, proxy.listen.rsplit(":", 1)[1])
        if service:
            link_services[name] = service
        if port is None or not service:
            link_urls[name] = ""  # kept, so a fault can name it; it cannot be probed from here
        elif service == "redis":
            link_urls[name] = f"redis://127.0.0.1:{port}/0"
            published.append(name)
        else:
            link_urls[name] = compose.database_url.format(host="127.0.0.1", port=port)
            published.append(name)
    # Published links first: a probe goes through the first reachable link a fault touches.
    link_urls = {name: link_urls[name] for name in (*published, *link_urls)}
    services: dict = dict(containers)
    services["redis"] = containers.get(compose.redis)
    services["postgres"] = containers.get(compose.postgres)
    target = Target(
        toxiproxy=toxiproxy,
        link_urls=link_urls,
        services={k: v for k, v in services.items() if v is not None},
        ledger=ledger,
        kind="compose",
        proxy_service=containers[compose.toxiproxy],
        link_services=link_services,
        direct=_direct(compose, containers),
    )
    target.use_profile_links(profile.links)
    return target
