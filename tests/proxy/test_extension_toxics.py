"""chaoslib's extensions beyond Toxiproxy: clients, connect_delay, limit_time, shared bandwidth."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from chaoslib.toxiproxy.client import ToxiproxyError

# The data plane: every test runs on the proxy's fast path and its general path.
pytestmark = pytest.mark.both_paths


@pytest.fixture
def echo_proxy(client, echo_server):
    return client.create_proxy("echo", upstream=echo_server.address)


@pytest.fixture
def redis_proxy(client, redis_session):
    return client.create_proxy("redis", upstream=f"127.0.0.1:{redis_session.port}")


def connect(proxy, source: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", proxy.listen_port))
    return sock


def ping(sock: socket.socket) -> bytes:
    sock.sendall(b"PING\r\n")
    try:
        return sock.recv(64)
    except TimeoutError:
        return b"(timed out)"


def test_client_scoped_toxic_partitions_one_client_only(client, redis_proxy):
    client.add_toxic(
        "redis", "timeout", name="cut", attributes={"timeout": 0, "clients": ["127.0.0.2"]}
    )
    assert client.get_toxic("redis", "cut").attributes["clients"] == ["127.0.0.2/32"]
    with connect(redis_proxy, "127.0.0.2", 0.5) as cut, connect(redis_proxy, "127.0.0.3") as kept:
        assert ping(kept) == b"+PONG\r\n"
        assert ping(cut) == b"(timed out)"
        # Moving the toxic to the other client takes effect on the live connections.
        client.update_toxic("redis", "cut", attributes={"clients": ["127.0.0.3/32"]})
        kept.settimeout(0.5)
        assert ping(kept) == b"(timed out)"
    with connect(redis_proxy, "127.0.0.2") as fresh:
        assert ping(fresh) == b"+PONG\r\n"


def test_a_toxic_without_clients_looks_like_toxiproxys(client, redis_proxy):
    toxic = client.add_toxic("redis", "latency", attributes={"latency": 1})
    assert toxic.attributes == {"latency": 1, "jitter": 0}
    toxic = client.add_toxic("redis", "bandwidth", attributes={"rate": 10})
    assert toxic.attributes == {"rate": 10}  # scope is left out while it has its default


def test_bad_clients_are_refused_naming_the_value(client, redis_proxy):
    with pytest.raises(ToxiproxyError, match="'10.0.0.300' is not an IP address or CIDR"):
        client.add_toxic("redis", "latency", attributes={"clients": ["10.0.0.300"]})
    with pytest.raises(ToxiproxyError, match="clients must be a list"):
        client.add_toxic("redis", "latency", attributes={"clients": "127.0.0.2"})


def test_connect_delay_holds_new_connections_only(client, echo_proxy):
    with connect(echo_proxy) as old:
        old.sendall(b"x")
        assert old.recv(1) == b"x"
        client.add_toxic("echo", "connect_delay", name="slow", attributes={"delay": 300})
        start = time.monotonic()
        old.sendall(b"y")
        assert old.recv(1) == b"y"
        assert time.monotonic() - start < 0.1
        start = time.monotonic()
        with connect(echo_proxy) as new:  # the connect itself succeeds at once
            assert time.monotonic() - start < 0.1
            new.sendall(b"z")
            assert new.recv(1) == b"z"
        assert 0.29 <= time.monotonic() - start < 0.6


def test_limit_time_cuts_a_live_connection(client, echo_proxy):
    client.add_toxic("echo", "limit_time", attributes={"time": 300})
    with connect(echo_proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"before")
        assert sock.recv(6) == b"before"
        while data := sock.recv(64):  # data flows until the cut, then EOF
            pass
        assert data == b""
        assert 0.29 <= time.monotonic() - start < 0.6


def test_limit_time_with_reset_is_a_connection_reset(client, echo_proxy):
    client.add_toxic("echo", "limit_time", attributes={"time": 100, "reset": 1})
    with connect(echo_proxy) as sock, pytest.raises(ConnectionResetError):
        sock.recv(64)


def test_proxy_wide_bandwidth_is_shared_by_all_connections(client, echo_proxy):
    client.add_toxic("echo", "bandwidth", attributes={"rate": 1000, "scope": "proxy"})
    per_connection = 300_000
    done = []

    def transfer() -> None:
        with connect(echo_proxy, timeout=10) as sock:
            sock.sendall(b"x" * per_connection)
            received = 0
            while received < per_connection:
                chunk = sock.recv(65536)
                assert chunk
                received += len(chunk)
            done.append(time.monotonic())

    start = time.monotonic()
    threads = [threading.Thread(target=transfer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(done) == 4
    rate = 4 * per_connection / (max(done) - start) / 1000
    # Shared, 4 connections get 1000 KB/s between them; per connection they would get 4000.
    # 15% leaves room for a busy 2-core machine and still tells the two apart.
    assert rate == pytest.approx(1000, rel=0.15)
