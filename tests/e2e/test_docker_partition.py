"""``invoke chaos.partition`` in compose mode: the probes run inside the containers, where the
clients are, so a cut is proven from the cut client and a working link from another one.

One small compose project of the module's own (redis, chaoslib's toxiproxy image with a shared
and two per-client proxies, two idle client containers), with no proxy port published on the
host: every link is probed from inside the project network.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaoslib.faults.client_partition import ProbeResult
from chaoslib.faults.netns_probe import probe, probe_in_namespace
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.docker_helpers import engine, needs_docker
from tests.helpers import REPO, run_invoke

COMPOSE = """\
services:
  redis:
    image: chaoslib/redis:local
    init: true
  toxiproxy:
    image: chaoslib/toxiproxy:local
    command: ["-host", "0.0.0.0", "-port", "8474", "-config", "/config/toxiproxy.json"]
    volumes: ["{config}:/config/toxiproxy.json:ro"]
    ports: ["127.0.0.1::8474"]
    init: true
  alpha:
    image: chaoslib/base:local
    command: ["sleep", "infinity"]
    init: true
  beta:
    image: chaoslib/base:local
    command: ["sleep", "infinity"]
    init: true
"""
PROXIES = [
    {"name": "redis", "listen": "0.0.0.0:6379", "upstream": "redis:6379", "enabled": True},
    {"name": "redis-alpha", "listen": "0.0.0.0:16401", "upstream": "redis:6379", "enabled": True},
    {"name": "redis-beta", "listen": "0.0.0.0:16402", "upstream": "redis:6379", "enabled": True},
]
# Contract and timings come from local.yml; this file states only its own system.
PROFILE = """\
extends: local
name: partition-test
description: redis behind toxiproxy, two idle clients
compose:
  files: [{compose}]
  project: {project}
  proxy_config: {config}
  redis: redis
  toxiproxy: toxiproxy
services:
  alpha: {{backend: docker, redis: redis-alpha}}
  beta: {{backend: docker, redis: redis-beta}}
links:
  redis-alpha: {{service: redis, client: alpha}}
  redis-beta: {{service: redis, client: beta}}
"""


@dataclass(frozen=True)
class Project:
    profile: str
    api: Toxiproxy
    ips: dict[str, str]  # compose service -> its address on the project network
    subnet: ipaddress.IPv4Network
    home: Path


def _compose(base: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*base, *args], cwd=REPO, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from chaoslib.services.docker import DockerService
    from chaoslib.target.compose_system import compose_command

    client = engine()
    tmp = tmp_path_factory.mktemp("partition-compose")
    name = f"chaospart{uuid.uuid4().hex[:8]}"
    config, compose, profile = tmp / "proxies.json", tmp / "compose.yml", tmp / "profile.yml"
    config.write_text(json.dumps(PROXIES))
    compose.write_text(COMPOSE.format(config=config))
    profile.write_text(PROFILE.format(compose=compose, project=name, config=config))
    base = [*compose_command(), "-p", name, "-f", str(compose)]
    try:
        up = _compose(base, "up", "-d")
        assert up.returncode == 0, up.stderr
        found = {s.name: s for s in DockerService.find(project=name, client=client)}
        ports = found["toxiproxy"].container.attrs["NetworkSettings"]["Ports"]
        api = Toxiproxy(f"http://127.0.0.1:{ports['8474/tcp'][0]['HostPort']}")
        wait_until(api.is_running, timeout=60, what="the toxiproxy container's API")
        network = f"{name}_default"
        ips = {s: found[s].ip(network) for s in found}
        subnet = client.networks.get(network).attrs["IPAM"]["Config"][0]["Subnet"]
        alpha_pid = found["alpha"].pid

        def redis_through_the_proxy() -> bool:
            return probe_in_namespace(alpha_pid, ips["toxiproxy"], 16401, "redis").answered

        wait_until(redis_through_the_proxy, timeout=60, what="redis through the proxy")
        yield Project(str(profile), api, ips, ipaddress.ip_network(subnet), tmp / "home")
    finally:
        _compose(base, "down", "-v", "--remove-orphans")


def _partition(project: Project, client: str) -> tuple[int, str, str]:
    done = run_invoke(
        project.home, "chaos.partition", "--client", client, "--service", "redis",
        "--profile", project.profile, "--duration", "0.2", timeout=120,
    )  # fmt: skip
    raw = done.stdout + done.stderr
    return done.returncode, " ".join(raw.split()), raw


def _no_toxics(project: Project) -> bool:
    return all(not p.toxics for p in project.api.proxies().values())


@needs_docker
def test_a_per_client_cut_is_seen_cut_from_its_container_and_working_from_another(project):
    code, out, raw = _partition(project, "alpha")
    ip = project.ips
    assert code == 0, raw
    assert "on redis-alpha [both] (per-client proxy)" in out, raw
    # Every link is in the table, though none is published on the host.
    assert f"✅ redis-alpha alpha {ip['alpha']} cut no answer" in out, raw
    assert f"✅ redis-beta beta {ip['beta']} works answered" in out, raw
    assert "✅ redis toxiproxy 127.0.0.1 works answered" in out, raw
    assert "After the heal: every probe answered" in out, raw
    assert _no_toxics(project)


@needs_docker
def test_a_loopback_client_is_refused_in_compose_mode_saying_why(project):
    code, out, raw = _partition(project, "127.0.0.2")
    assert code == 2, raw
    assert "--client=127.0.0.2 is a loopback address" in out, raw
    assert "never from loopback, so this cut would cut nothing" in out, raw
    assert "a client of the profile (alpha, beta)" in out and str(project.subnet) in out, raw
    assert "Applied" not in out and _no_toxics(project)


@needs_docker
def test_an_address_off_the_project_network_is_refused(project):
    code, out, raw = _partition(project, "198.51.100.7")
    assert code == 2, raw
    assert "--client=198.51.100.7 is not on the project's network" in out, raw
    assert str(project.subnet) in out and _no_toxics(project)


@needs_docker
def test_a_cut_by_a_containers_address_cuts_that_container_and_not_the_other(project):
    ip = project.ips
    code, out, raw = _partition(project, ip["alpha"])
    assert code == 0, raw
    assert f"partition of {ip['alpha']}/32 on redis [both] (client-scoped toxics)" in out, raw
    assert f"✅ redis alpha {ip['alpha']} cut no answer" in out, raw
    assert f"✅ redis beta {ip['beta']} works answered" in out, raw
    # The per-client proxies were not cut, alpha's own included.
    assert f"✅ redis-alpha alpha {ip['alpha']} works answered" in out, raw
    assert f"✅ redis-beta beta {ip['beta']} works answered" in out, raw
    assert _no_toxics(project)


@needs_docker
def test_a_cut_whose_probe_cannot_be_made_fails_the_task_instead_of_passing_as_cut(project):
    used = {ipaddress.ip_address(a) for a in project.ips.values() if a}
    free = next(a for a in reversed(list(project.subnet.hosts())) if a not in used)
    code, out, raw = _partition(project, str(free))
    assert code == 1, raw
    assert (
        f"❓ redis an address in {free}/32 cut not probed: no running container of the project "
        f"has an address in {free}/32" in out
    ), raw
    assert "1 probe(s) could not be made during the cut, so it is not proven" in out, raw
    assert f"✅ redis alpha {project.ips['alpha']} works answered" in out, raw  # the rest still ran
    assert _no_toxics(project)


# -- the probe itself: no docker needed -------------------------------------------------------


def test_a_probe_from_an_address_this_host_lacks_is_an_error_and_never_a_cut():
    answer = probe("127.0.0.1", 9, "redis", source="192.0.2.77")
    assert not answer.answered and "cannot send from 192.0.2.77" in answer.error
    result = ProbeResult("redis", "192.0.2.77", True, answer.answered, 0.0, answer.error)
    assert not result.as_expected


def test_a_refused_probe_is_a_real_no_answer_not_an_error():
    import socket

    with socket.socket() as held:  # a port that is certainly closed: bound, never listening
        held.bind(("127.0.0.1", 0))
        answer = probe("127.0.0.1", held.getsockname()[1], "redis", source="127.0.0.2")
    assert answer == type(answer)(False, answer.seconds, "")
    assert ProbeResult("redis", "127.0.0.2", True, False, answer.seconds).as_expected


def test_a_namespace_that_cannot_be_entered_is_an_error():
    gone = 4_194_305  # above any pid_max: no such process
    assert not os.path.exists(f"/proc/{gone}")
    answer = probe_in_namespace(gone, "127.0.0.1", 9, "redis")
    assert not answer.answered and answer.error, answer
