"""Every fault against real Redis and PostgreSQL through the proxy: apply, observe, heal, observe."""

from __future__ import annotations

import socket
import time

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoslib.errors import ConfigError
from chaoslib.faults import Ledger, Link, Restart, ServiceFault, partition
from chaoslib.observe import History, redis_ping
from chaoslib.services.redis import RedisServer
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until


@pytest.fixture
def tp(toxiproxy):
    yield toxiproxy
    toxiproxy.reset()


@pytest.fixture
def links(chaos_stack):
    return {name: info["url"] for name, info in chaos_stack.link_urls().items()}


def rclient(url: str, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def test_latency_slows_redis_until_healed_and_the_ledger_tracks_it(tp, links):
    ledger = Ledger()
    fault = Link("redis", tp).latency(120, direction="both")
    with rclient(links["redis"]) as r:
        r.ping()
        with fault:
            assert len(ledger.entries()) == 1
            assert len(tp.toxics("redis")) == 2  # both directions
            assert timed(r.ping) >= 0.239
        assert timed(r.ping) < 0.1
    assert ledger.entries() == []
    assert tp.toxics("redis") == []
    fault.heal()  # idempotent


def test_latency_slows_postgres(tp, links):
    with psycopg.connect(links["timescaledb"], connect_timeout=5) as conn:
        conn.execute("SELECT 1")
        with Link("timescaledb", tp).latency(100):
            assert timed(lambda: conn.execute("SELECT 1")) >= 0.099
        assert timed(lambda: conn.execute("SELECT 1")) < 0.1


def test_stall_holds_a_command_and_healing_lets_it_finish(tp, links):
    with rclient(links["redis"], timeout=0.3) as r, rclient(links["redis"], timeout=5) as patient:
        r.ping()
        patient.ping()
        with Link("redis", tp).stall(), pytest.raises(redis.TimeoutError):
            r.ping()
        assert patient.ping()


def test_timeout_fault_drops_traffic(tp, links):
    with rclient(links["redis"], timeout=0.3) as r:
        r.ping()
        with Link("redis", tp).timeout(0), pytest.raises(redis.TimeoutError):
            r.ping()


def test_reset_peer_breaks_new_connections(tp, links):
    with (
        Link("redis", tp).reset_peer(0, direction="upstream"),
        rclient(links["redis"]) as r,
        pytest.raises(redis.ConnectionError),
    ):
        r.ping()
    with rclient(links["redis"]) as r:
        assert r.ping()


def test_bandwidth_limits_a_big_value(tp, links):
    with rclient(links["redis"], timeout=10) as r:
        r.set("big", b"x" * 200_000)
        with Link("redis", tp).bandwidth(400):
            took = timed(lambda: r.get("big"))
        assert took == pytest.approx(0.5, rel=0.15)


def test_slicer_and_slow_close_keep_replies_intact(tp, links):
    with rclient(links["redis"]) as r:
        r.set("k", b"v" * 5000)
        with Link("redis", tp).slicer(100, 20, 10), Link("redis", tp).slow_close(50):
            assert r.get("k") == b"v" * 5000


def test_limit_data_cuts_the_connection(tp, links):
    with Link("redis", tp).limit_data(2000), rclient(links["redis"]) as r:
        r.set("k", b"v" * 5000)  # the handshake and +OK fit in 2000 bytes; the value does not
        with pytest.raises(redis.ConnectionError):
            r.get("k")


def test_down_refuses_and_heal_restores(tp, links):
    port = int(links["redis"].rsplit(":", 1)[1].split("/")[0])
    with Link("redis", tp).down(), pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    with rclient(links["redis"]) as r:
        assert r.ping()


def test_partition_cuts_every_named_link(tp, links):
    with partition([Link("redis", tp), Link("timescaledb", tp)]):
        assert not any(p.enabled for p in tp.proxies().values())
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(links["timescaledb"], connect_timeout=2)
    assert all(p.enabled for p in tp.proxies().values())


def test_flap_takes_the_link_down_each_cycle(tp, links):
    history = History()
    changes = []
    with redis_ping(links["redis"], history, name="p", interval=0.02, deadline=1):
        wait_until(lambda: history.select(source="p"), timeout=5, what="a first probe")
        flap = Link("redis", tp).flap(
            0.4, 0.2, 3, on_change=lambda state, at: changes.append(state)
        )
        flap.apply()
        assert flap.wait(10)
        flap.heal()
        wait_until(lambda: history.select(source="p")[-1].ok, timeout=5)
    assert changes == ["down", "up"] * 3
    samples = history.select(source="p")
    outages = sum(1 for a, b in zip(samples, samples[1:], strict=False) if a.ok and b.ok is False)
    assert outages == 3


def test_bad_fault_settings_are_rejected_before_any_request(tp):
    link = Link("redis", tp)
    with pytest.raises(ConfigError, match="direction 'sideways'"):
        link.latency(10, direction="sideways")
    with pytest.raises(ConfigError, match="attribute latency of latency is -5; accepted: 0 to"):
        link.latency(-5)
    with pytest.raises(ConfigError, match="toxicity"):
        link.bandwidth(10, toxicity=1.5)
    with pytest.raises(ConfigError, match="average_size"):
        link.slicer(0)
    assert tp.toxics("redis") == []


def test_a_failed_apply_is_healed_and_leaves_no_ledger_entry(tp):
    fault = Link("nope", tp).latency(10)
    with pytest.raises(Exception, match="proxy not found"):
        fault.apply()
    assert not fault.applied
    assert Ledger().entries() == []


# -- service faults on a private server ---------------------------------------------------
@pytest.fixture
def private_redis(tmp_path):
    with RedisServer(tmp_path / "r") as server:
        yield server


@pytest.mark.parametrize("action", ["stop", "kill"])
def test_stop_and_kill_are_healed_by_a_start(private_redis, action):
    """Also: the server started while healing must still stop gracefully (no blocked SIGTERM)."""
    with ServiceFault(private_redis, action):
        assert not private_redis.is_running()
        with pytest.raises(redis.ConnectionError):
            rclient(private_redis.url).ping()
    with rclient(private_redis.url) as r:
        assert r.ping()
    took = timed(private_redis.stop)
    assert took < 5, f"graceful stop took {took:.1f}s"


def test_pause_is_healed_by_resume(private_redis):
    with (
        ServiceFault(private_redis, "pause"),
        rclient(private_redis.url, timeout=0.3) as r,
        pytest.raises(redis.TimeoutError),
    ):
        r.ping()
    with rclient(private_redis.url) as r:
        assert r.ping()


def test_restart_keeps_the_service_down_for_the_given_time(private_redis):
    from chaoslib.clock import ManualClock

    clock = ManualClock()
    pid = private_redis.pid
    Restart(private_redis, 5.0, clock=clock).apply().heal()
    assert clock.slept == [5.0]
    assert private_redis.pid != pid and private_redis.probe()


def test_toxiproxy_client_in_faults_is_the_one_code_path(tp):
    # The same fault objects drive any Toxiproxy API; here the URL is the only input.
    fault = Link("redis", Toxiproxy(tp.url)).latency(1)
    with fault:
        assert [t.type for t in tp.toxics("redis")] == ["latency"]


def test_a_link_someone_else_disabled_stays_disabled_after_the_heal(tp, tmp_path):
    from chaoslib.faults import Ledger
    from chaoslib.faults.recovery import heal_ledger

    tp.disable("timescaledb")  # not chaoslib's doing
    try:
        ledger = Ledger(tmp_path)
        with partition([Link("redis", tp, ledger=ledger), Link("timescaledb", tp, ledger=ledger)]):
            assert not tp.get_proxy("redis").enabled
            assert ledger.entries()[0].target["proxies"] == ["redis"]  # all a reset would undo
        assert tp.get_proxy("redis").enabled
        assert not tp.get_proxy("timescaledb").enabled
        assert heal_ledger(ledger, None) == []
        assert not tp.get_proxy("timescaledb").enabled
    finally:
        tp.enable("timescaledb")
