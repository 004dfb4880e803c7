"""Toxics on one stream compose as in Toxiproxy: delays add up, pacing and slicing do not.

Toxiproxy's latency toxic moves a chunk's timestamp on by the time it held it, so
the next latency toxic counts from there; its clients' suites assert 200 ms for
two 100 ms toxics. Real sockets through the embedded proxy to an echo server, and
a real redis-server for the protocol toxic.
"""

from __future__ import annotations

import socket
import statistics
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoslib.toxiproxy.client import ToxiproxyError
from chaoslib.wait import wait_until
from tests.echo import connect, counted, round_trip

# The data plane: every test runs on the proxy's fast path and its general path.
pytestmark = pytest.mark.both_paths

# A median of round trips: one slow wake on a busy 2-core machine does not decide it.
ROUND_TRIPS = 5


@pytest.fixture
def echo_proxy(client, echo_server):
    return client.create_proxy("echo", upstream=echo_server.address)


def added_delay(sock: socket.socket, baseline: float) -> float:
    return statistics.median(round_trip(sock) - baseline for _ in range(ROUND_TRIPS))


@pytest.mark.parametrize(
    "streams",
    [("downstream", "downstream"), ("upstream", "upstream"), ("upstream", "downstream")],
)
def test_two_100ms_latency_toxics_add_up_to_200ms(client, echo_proxy, streams):
    with connect(echo_proxy) as sock:
        baseline = min(round_trip(sock) for _ in range(3))
        client.add_toxic(
            "echo", "latency", name="l0", stream=streams[0], attributes={"latency": 100}
        )
        one = added_delay(sock, baseline)
        client.add_toxic(
            "echo", "latency", name="l1", stream=streams[1], attributes={"latency": 100}
        )
        two = added_delay(sock, baseline)
    # On two streams they are two chunks (the request, then the reply), each woken late.
    assert_adds_up(one, two, 0.100, 0.200, wakes=len(set(streams)))


def test_three_latency_toxics_add_up(client, echo_proxy):
    with connect(echo_proxy) as sock:
        baseline = min(round_trip(sock) for _ in range(3))
        client.add_toxic("echo", "latency", name="l0", attributes={"latency": 30})
        one = added_delay(sock, baseline)
        for index, ms in ((1, 50), (2, 70)):
            client.add_toxic("echo", "latency", name=f"l{index}", attributes={"latency": ms})
        three = added_delay(sock, baseline)
    assert_adds_up(one, three, 0.030, 0.150)


SLACK = 0.020  # seconds


def assert_adds_up(
    first: float, stacked: float, first_ms: float, stacked_ms: float, *, wakes: int = 1
) -> None:
    """``stacked`` is the sum of the toxics, within ``SLACK``.

    A timer wakes late (1-5 ms on a quiet 2-core VM, tens under load), once per chunk
    and not once per toxic, since each toxic counts from the time the one before it
    was due. That lateness is measured on the first toxic alone and allowed for, once
    per chunk the round trip holds (``wakes``); what is left of a busy core's noise is
    the slack. A wrong rule is off by a whole toxic (30 ms or more here), not by that.
    """
    late = max(0.0, first - first_ms) * wakes
    assert stacked >= stacked_ms - SLACK, f"{stacked * 1000:.1f} ms"
    assert abs(stacked - late - stacked_ms) <= SLACK, (
        f"{stacked * 1000:.1f} ms with {late * 1000:.1f} ms of timer lateness"
    )


def test_a_chunk_queued_behind_a_held_one_is_not_delayed_twice(client, echo_proxy):
    # Stacking adds delay, not a throughput cap: a second write made while the first
    # is held still arrives 200 ms after it was sent, not 200 ms after the first left.
    client.add_toxic("echo", "latency", name="a", attributes={"latency": 100})
    client.add_toxic("echo", "latency", name="b", attributes={"latency": 100})
    with connect(echo_proxy) as sock:
        sock.sendall(b"one")
        # The second reply must be a read of its own, queued while the first sleeps.
        wait_until(
            lambda: counted(client, "echo", "downstream") >= 3,
            timeout=5,
            what="the first reply to be held",
        )
        second_sent = time.monotonic()
        sock.sendall(b"two")
        received = b""
        arrivals = []
        while len(received) < 6:
            chunk = sock.recv(64)
            assert chunk
            received += chunk
            arrivals.append((len(received), time.monotonic()))
    assert received == b"onetwo"
    second_at = next(at for size, at in arrivals if size == 6)
    assert 0.195 <= second_at - second_sent <= 0.23, f"{(second_at - second_sent) * 1000:.1f} ms"


def test_a_latency_toxic_removed_mid_hold_releases_into_the_next(client, echo_proxy):
    # The first toxic's hold is cut short; the chunk keeps the time it was read at,
    # so the second toxic's 100 ms counts from the read, as in Toxiproxy.
    client.add_toxic("echo", "latency", name="long", attributes={"latency": 10_000})
    client.add_toxic("echo", "latency", name="short", attributes={"latency": 100})
    with connect(echo_proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"held")
        client.remove_toxic("echo", "long")
        assert sock.recv(10) == b"held"
    assert time.monotonic() - start < 1.0


def test_bandwidth_after_latency_adds_its_transfer_time(client, echo_proxy):
    # 100 ms of latency, then 20 KB at 100 KB/s (0.2 s): both, one after the other
    # (less the 20 ms the pacing lets a late timer catch up).
    client.add_toxic("echo", "latency", name="l", attributes={"latency": 100})
    client.add_toxic("echo", "bandwidth", name="b", attributes={"rate": 100})
    payload = b"x" * 20_000
    with connect(echo_proxy) as sock:
        took = round_trip(sock, payload)
    assert 0.275 <= took <= 0.4, f"{took * 1000:.0f} ms"


def test_two_slow_close_toxics_hold_the_close_in_turn(client, echo_proxy):
    # Toxiproxy passes the close down its chain, each slow_close holding it in turn.
    for name in ("c1", "c2"):
        client.add_toxic(
            "echo", "slow_close", name=name, stream="upstream", attributes={"delay": 150}
        )
    with connect(echo_proxy) as sock:
        assert round_trip(sock) < 1
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        assert sock.recv(10) == b""
    assert 0.295 <= time.monotonic() - start <= 0.45


def test_two_connect_delay_toxics_add_up(client, echo_proxy):
    for name in ("d1", "d2"):  # (connect_delay acts on the client's side: upstream only)
        client.add_toxic("echo", "connect_delay", name=name, attributes={"delay": 150})
    start = time.monotonic()
    with connect(echo_proxy) as sock:
        sock.sendall(b"z")
        assert sock.recv(1) == b"z"
    assert 0.295 <= time.monotonic() - start <= 0.45


def test_a_redis_command_delay_and_a_latency_toxic_add_up(client, redis_session):
    proxy = client.create_proxy("redis", upstream=f"127.0.0.1:{redis_session.port}")
    with redis.Redis(port=proxy.listen_port, socket_timeout=5, retry=Retry(NoBackoff(), 0)) as r:
        r.ping()
        baseline = min(_timed(r.ping) for _ in range(3))
        client.add_toxic(
            "redis", "redis_command", name="d", attributes={"commands": ["PING"], "delay_ms": 100}
        )
        one = statistics.median(_timed(r.ping) - baseline for _ in range(ROUND_TRIPS))
        client.add_toxic(
            "redis", "latency", name="l", stream="upstream", attributes={"latency": 100}
        )
        two = statistics.median(_timed(r.ping) - baseline for _ in range(ROUND_TRIPS))
    assert_adds_up(one, two, 0.100, 0.200)


def _timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


# -- slicer: what Toxiproxy honours is accepted --------------------------------------


def test_slicer_with_variation_equal_to_the_average_is_accepted_and_intact(client, echo_proxy):
    # The exact toxic a Toxiproxy client suite creates.
    client.add_toxic(
        "echo",
        "slicer",
        attributes={"average_size": 1000, "size_variation": 1000, "delay": 1000},
    )
    payload = bytes(range(256)) * 800  # 200 KB
    with connect(echo_proxy) as sock:
        sock.sendall(payload)
        received = bytearray()
        while len(received) < len(payload):
            chunk = sock.recv(65536)
            assert chunk
            received += chunk
    assert bytes(received) == payload


def test_slicer_with_variation_above_the_average_is_refused_with_the_reason(client, echo_proxy):
    with pytest.raises(ToxiproxyError) as refused:
        client.add_toxic("echo", "slicer", attributes={"average_size": 2, "size_variation": 10})
    assert refused.value.status == 400
    assert "accepted: 0 to average_size (2) bytes" in str(refused.value)
