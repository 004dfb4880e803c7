"""Partition probes in a docker-compose project, made from inside its containers.

In compose mode the proxy never sees 127.0.0.x: containers connect from their
own addresses on the project network, and the host through docker's port
forwarding. So a probe enters a container's network namespace
(:func:`~chaoslib.faults.netns_probe.probe_in_namespace`) and connects to the
toxiproxy container's address on a network both share, at the link's listen
port inside the container. A link needs no published port to be probed, so
every link appears in the table.

Who probes what:

- a per-client link, from its client's container (the cut applies to whoever
  uses that proxy, so the toxiproxy container's own loopback stands in when
  the client is not running);
- the shared link of a client-scoped cut, from a container with an address in
  the cut (it must find it cut) and from one without (it must still work);
- any other link, from the toxiproxy container's loopback.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chaoslib.errors import ConfigError
from chaoslib.faults.acts_on import Clients, LinkTarget
from chaoslib.faults.netns_probe import Answer, probe_in_namespace
from chaoslib.faults.partition_plan import PartitionPlan, ProbeResult

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Place:
    """Where a probe is made from, and the proxy's address from there."""

    label: str  # what the table shows: "<service> <address>"
    address: str  # the source address the proxy sees
    pid: int | None  # the network namespace to probe from
    target: str  # the toxiproxy container's address from that namespace
    error: str = ""  # no probe can be made from here


def project_subnets(target: LinkTarget) -> list[tuple[str, Network]]:
    """The subnets of the networks the toxiproxy container is on: the project's own."""
    proxy: Any = target.proxy_service
    if proxy is None:
        return []
    found = []
    for name in proxy.networks():
        for config in proxy.client.networks.get(name).attrs["IPAM"]["Config"] or []:
            if config.get("Subnet"):
                found.append((name, ipaddress.ip_network(config["Subnet"])))
    return found


def check_compose_client(target: LinkTarget, client: str, network: Network, named: str) -> None:
    """A client-scoped cut in compose mode must name addresses the proxy can really see."""
    subnets = project_subnets(target)
    within = ", ".join(f"{subnet} ({name})" for name, subnet in subnets) or "none found"
    accepted = (
        f"accepted: {named}the address or CIDR of a container on the project network: {within}"
    )
    if network.is_loopback:
        raise ConfigError(
            f"--client={client} is a loopback address: in compose mode the proxy sees connections "
            "from the containers' addresses on the project network (and the host's through "
            "docker's port forwarding), never from loopback, so this cut would cut nothing; "
            + accepted
        )
    if not any(network.version == s.version and network.subnet_of(s) for _, s in subnets):  # type: ignore[arg-type]
        raise ConfigError(f"--client={client} is not on the project's network; {accepted}")


def _place(svc: Any, proxy: Any) -> Place:
    shared = [n for n in svc.networks() if n in proxy.networks()]
    if not shared:
        return Place(svc.name, "", None, "", f"{svc.name} shares no network with {proxy.name}")
    address = svc.ip(shared[0]) or ""
    return Place(f"{svc.name} {address}", address, svc.pid, proxy.ip(shared[0]) or "")


def _home(proxy: Any) -> Place:
    """The toxiproxy container's own namespace, through loopback: reaches every listener."""
    pid = proxy.pid if proxy.is_running() else None
    error = "" if pid else f"{proxy.name} is not running"
    return Place(f"{proxy.name} 127.0.0.1", "127.0.0.1", pid, "127.0.0.1", error)


def _containers(target: LinkTarget, profile: Clients | None) -> list[Any]:
    """The project's running containers: the profile's clients first, the proxy last."""
    proxy: Any = target.proxy_service
    unique = {getattr(s, "container_name", ""): s for s in target.services.values()}
    clients = {link.client for link in profile.links.values()} if profile else set()

    def rank(svc: Any) -> tuple[int, str]:
        is_proxy = svc.container_name == proxy.container_name
        return (2 if is_proxy else 0 if svc.name in clients else 1, svc.container_name)

    running = [s for name, s in unique.items() if name and s.is_running()]
    return sorted(running, key=rank)


def _owner(places: dict[str, Place], profile: Clients | None, link: str) -> Place | None:
    if profile is None or link not in profile.links:
        return None
    client = profile.links[link].client
    service = profile.services.get(client)
    container = service.container if service and service.container else None
    key = container or client
    return places.get(key)


def _scheme(target: LinkTarget, profile: Clients | None, link: str, upstream: str) -> str:
    if profile is not None and link in profile.links:
        return "redis" if profile.links[link].service == "redis" else "postgresql"
    if target.link_urls.get(link):
        return urlsplit(target.link_urls[link]).scheme
    return "redis" if upstream.endswith(":6379") else "postgresql"


def _scoped(cut: PartitionPlan, places: list[Place], home: Place) -> list[tuple[Place, bool]]:
    network = ipaddress.ip_network(cut.clients[0])
    usable = [p for p in places if not p.error and p.address and p.pid]
    inside = next((p for p in usable if ipaddress.ip_address(p.address) in network), None)
    outside = next((p for p in usable if ipaddress.ip_address(p.address) not in network), home)
    if inside is None:
        missing = f"no running container of the project has an address in {network}"
        inside = Place(f"an address in {network}", "", None, "", missing)
    return [(inside, True), (outside, False)]


def probe_compose(
    target: LinkTarget, cut: PartitionPlan, profile: Clients | None
) -> list[ProbeResult]:
    """Every proxy of the toxiproxy container, probed from where its clients are."""
    proxy: Any = target.proxy_service
    if proxy is None:
        raise ConfigError("this compose environment names no toxiproxy container to probe through")
    home = _home(proxy)
    containers = _containers(target, profile)
    by_name = {}
    for svc in containers:
        by_name[svc.container_name] = by_name[svc.name] = _place(svc, proxy)
    places = list(dict.fromkeys(by_name[s.container_name] for s in containers))
    results = []
    for link, spec in sorted(target.toxiproxy.proxies().items()):
        scheme = _scheme(target, profile, link, spec.upstream)
        listen_host = spec.listen.rpartition(":")[0].strip("[]")
        loopback_only = _is_loopback(listen_host)
        if link == cut.link and cut.clients:
            sources = _scoped(cut, places, home)
            if loopback_only:  # no other container can reach that listener at all
                reason = (
                    f"{link} listens on {spec.listen} inside {proxy.name}: no container reaches it"
                )
                sources = [(Place(s.label, s.address, None, "", reason), e) for s, e in sources]
        else:
            owner = None if loopback_only else _owner(by_name, profile, link)
            sources = [(owner if owner and not owner.error else home, link == cut.link)]
        for place, expect_cut in sources:
            answer = _ask(place, spec.listen_port, scheme)
            results.append(
                ProbeResult(link, place.label, expect_cut, answer.answered, answer.seconds,
                            answer.error)
            )  # fmt: skip
    return results


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _ask(place: Place, port: int, scheme: str) -> Answer:
    if place.error:
        return Answer(False, 0.0, place.error)
    if not place.pid or not place.target:
        return Answer(False, 0.0, f"{place.label} has no network namespace or proxy address")
    return probe_in_namespace(place.pid, place.target, port, scheme)
