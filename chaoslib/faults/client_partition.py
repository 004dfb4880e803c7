"""Cut one client off one service, and prove with probes what was cut and what still worked.

Two ways, whichever the system has:

- **per-client proxies** (the profile's ``links``: one proxy per client and
  service). The client's own proxy stalls; works with the real Toxiproxy too.
- **client-scoped toxics** (a chaoslib extension): the service's shared proxy
  stalls only connections from the client's addresses (``clients``). A server
  that drops the ``clients`` attribute (Toxiproxy) is detected, and the fault
  is taken back rather than left cutting every client.

The cut is a stall (bandwidth 0), as a real partition is: data is held, not
refused, and flows again when the partition heals, unless the client gave up.

Probes run where the clients are: on this host from loopback addresses for the
embedded stack, and in a compose project from inside its containers' network
namespaces (:mod:`chaoslib.faults.compose_probes`), because there the proxy
only ever sees the containers' addresses.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from chaoslib.errors import ConfigError
from chaoslib.faults.acts_on import Clients, LinkTarget
from chaoslib.faults.netns_probe import probe
from chaoslib.faults.network import ToxicFault
from chaoslib.faults.partition_plan import PartitionPlan, ProbeResult

DIRECTIONS = {"both": "both", "to": "upstream", "from": "downstream"}
SERVICE_LINKS = {"redis": ("redis",), "postgres": ("timescaledb", "postgres", "db")}


def plan(
    target: LinkTarget, profile: Clients | None, client: str, service: str, direction: str
) -> PartitionPlan:
    """Which proxy to stall for ``client``: its own (a profile's per-client link), or the
    shared link of ``service`` scoped to the client's addresses."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"--direction={direction!r}; accepted: {', '.join(DIRECTIONS)}")
    if profile is not None:
        for link in profile.links.values():
            if link.client == client and service in (link.service, link.name):
                target.link(link.name)
                return PartitionPlan(link.name, (), direction, "per-client proxy", link.client)
    clients = sorted({link.client for link in profile.links.values()}) if profile else []
    named = f"a client of the profile ({', '.join(clients)}) or " if clients else ""
    try:
        network = ipaddress.ip_network(client, strict=False)
    except ValueError:
        where = (
            "a container's address or CIDR on the project network"
            if target.kind == "compose"
            else "an IP address or CIDR"
        )
        raise ConfigError(
            f"--client={client!r} is not {named}{where} (for a client-scoped cut on a shared proxy)"
        ) from None
    if target.kind == "compose":
        from chaoslib.faults.compose_probes import check_compose_client

        check_compose_client(target, client, network, named)
    candidates = (service, *SERVICE_LINKS.get(service, ()))
    for name in candidates:
        if name in target.link_urls:
            return PartitionPlan(name, (str(network),), direction, "client-scoped toxics")
    raise ConfigError(
        f"--service={service!r} has no shared proxy here; accepted: {', '.join(sorted(SERVICE_LINKS))} "
        f"or a link name ({', '.join(sorted(target.link_urls))})"
    )


class Partition(ToxicFault):
    """The stall toxics of a plan; checks that the server really scoped them to the clients."""

    def __init__(self, target: LinkTarget, cut: PartitionPlan) -> None:
        attributes: dict = {"rate": 0}
        if cut.clients:
            attributes["clients"] = list(cut.clients)
        super().__init__(
            target.toxiproxy,
            cut.link,
            "bandwidth",
            attributes,
            direction=DIRECTIONS[cut.direction],
            ledger=target.ledger,
        )
        self.plan = cut

    def describe(self) -> str:
        who = ", ".join(self.plan.clients) or "its client"
        return f"partition of {who} on {self.proxy} [{self.plan.direction}] ({self.plan.how})"

    def _apply(self) -> None:
        super()._apply()
        if self.plan.clients:
            name = next(iter(self.names.values()))
            if "clients" not in self.client.get_toxic(self.proxy, name).attributes:
                self._heal()
                raise ConfigError(
                    "this proxy server ignores the clients attribute (it is not chaoslib's), so "
                    "the cut would hit every client; use per-client proxies (a profile's links)"
                )


def expect_cut(cut: PartitionPlan, link: str, source: str) -> bool:
    """Whether a probe of ``link`` from address ``source`` should find it cut."""
    if link != cut.link:
        return False
    return not cut.clients or ipaddress.ip_address(source) in ipaddress.ip_network(cut.clients[0])


def probe_all(
    target: LinkTarget, cut: PartitionPlan, profile: Clients | None = None
) -> list[ProbeResult]:
    """The cut link from the cut client, and what should still work from elsewhere."""
    if target.kind == "compose":
        from chaoslib.faults.compose_probes import probe_compose

        return probe_compose(target, cut, profile)
    results = []
    for link, url in sorted(target.link_urls.items()):
        if not url:
            continue
        sources = ["127.0.0.1"]
        if link == cut.link and cut.clients:
            network = ipaddress.ip_network(cut.clients[0])
            inside = str(next(iter(network.hosts()), network.network_address))
            outside = (
                "127.0.0.3" if ipaddress.ip_address("127.0.0.3") not in network else "127.0.0.4"
            )
            sources = [inside, outside]
        parts = urlsplit(url)
        for source in sources:
            answer = probe(parts.hostname or "127.0.0.1", parts.port or 0, parts.scheme, source)
            results.append(
                ProbeResult(
                    link, source, expect_cut(cut, link, source), answer.answered,
                    answer.seconds, answer.error,
                )
            )  # fmt: skip
    return results
