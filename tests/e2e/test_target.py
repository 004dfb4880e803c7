"""One Target for what faults act on: read off the running stack, and held by the suite's systems."""

from __future__ import annotations

import pytest
import redis

from chaoslib.errors import ConfigError
from chaoslib.profiles import LinkDef, load_profile
from chaoslib.target import Target, open_target
from chaoslib.target.system import SystemBase


def test_the_stacks_target_finds_every_proxy_to_its_servers_by_upstream(chaos_stack, toxiproxy):
    server = chaos_stack.services["redis"]
    toxiproxy.create_proxy(
        "cache-of-a-client", listen="127.0.0.1:0", upstream="{}:{}".format(*server.address)
    )
    try:
        links = {"cache-of-a-client": LinkDef("cache-of-a-client", "redis", "reports")}
        target = Target.from_stack(chaos_stack, links)
        to_redis = target.links_to("redis")
        assert to_redis[0] == "redis" and "cache-of-a-client" in to_redis  # shared first
        assert "timescaledb" in target.links_to("postgres")
        assert "cache-of-a-client" not in target.links_to("postgres")
        assert target.links_to("redis", "reports") == ["cache-of-a-client"]
        postgres = chaos_stack.services["postgres"]
        assert target.direct == {"redis": server.url, "postgres": postgres.url}
        with redis.Redis.from_url(target.url("cache-of-a-client"), socket_timeout=2) as r:
            assert r.ping()  # the URL really goes through that proxy
        assert target.ledger is not None
        with target.link("cache-of-a-client").down():
            assert not toxiproxy.get_proxy("cache-of-a-client").enabled
            assert _recorded(target, "cache-of-a-client")
        assert not _recorded(target, "cache-of-a-client")
    finally:
        toxiproxy.delete_proxy("cache-of-a-client")


def test_opening_no_running_stack_says_how_to_start_one(tmp_path):
    with pytest.raises(ConfigError, match="invoke stack.up"):
        open_target(None, tmp_path / "nothing-here")


def test_a_system_knows_its_profiles_links_through_its_target_before_anything_runs(tmp_path):
    profile = load_profile("local")
    system = SystemBase(profile, "fast", tmp_path)
    assert system.toxiproxy is system.target.toxiproxy
    assert system.services is system.target.services
    for link in profile.links.values():
        assert link.name in system.links_to(link.service, link.client)
        assert system.link(link.name).name == link.name
        assert system.probe_url(link.name) is None  # no proxy yet: nothing to probe through
    with pytest.raises(ConfigError, match="unknown link 'nope'"):
        system.link("nope")
    system.direct = {"redis": "redis://127.0.0.1:1/0"}  # as a subclass sets it
    assert system.target.direct == {"redis": "redis://127.0.0.1:1/0"}


def _recorded(target: Target, link: str) -> bool:
    assert target.ledger is not None
    return any(link in e.target.get("proxies", ()) for e in target.ledger.entries())
