"""Each cap of the proxy server binds, says which cap and how to raise it, and holds memory."""

from __future__ import annotations

import select
import socket

import pytest
import redis

from chaoslib.proxy import ProxyServer
from chaoslib.proxy.limits import Limits
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError
from chaoslib.wait import wait_until


@pytest.fixture
def capped():
    limits = Limits(max_proxies=3, max_toxics=2, max_connections=5, max_buffered=64 << 10)
    with ProxyServer(limits=limits) as server, Toxiproxy(server.url) as client:
        yield server, client


def test_the_proxy_cap_refuses_the_next_one_and_names_the_flag(capped):
    _, client = capped
    for n in range(3):
        client.create_proxy(f"p{n}", "127.0.0.1:1")
    with pytest.raises(ToxiproxyError) as caught:
        client.create_proxy("p3", "127.0.0.1:1")
    assert caught.value.status == 400
    assert "cap of 3 (-max-proxies)" in str(caught.value)
    client.delete_proxy("p0")
    client.create_proxy("p3", "127.0.0.1:1")  # room again
    assert sorted(client.proxies()) == ["p1", "p2", "p3"]


def test_populate_past_the_cap_creates_nothing(capped):
    server, _ = capped
    import requests

    body = [{"name": f"q{n}", "upstream": "127.0.0.1:1"} for n in range(4)]
    response = requests.post(f"{server.url}/populate", json=body, timeout=10)
    assert response.status_code == 400
    answer = response.json()
    assert "cap of 3" in answer["error"] and answer["proxies"] is None
    assert requests.get(f"{server.url}/proxies", timeout=10).json() == {}


def test_the_toxic_cap_is_per_proxy(capped):
    _, client = capped
    for name in ("a", "b"):
        client.create_proxy(name, "127.0.0.1:1")
        client.add_toxic(name, "latency", name="one", attributes={"latency": 1})
        client.add_toxic(name, "latency", name="two", attributes={"latency": 1})
    with pytest.raises(ToxiproxyError) as caught:
        client.add_toxic("a", "latency", name="three", attributes={"latency": 1})
    assert caught.value.status == 400 and "(-max-toxics)" in str(caught.value)
    client.remove_toxic("a", "one")
    client.add_toxic("a", "latency", name="three", attributes={"latency": 1})


def _echo_once(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def _closed_at_once(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_connections_past_the_cap_are_closed_and_the_open_ones_keep_working(capped, echo_server):
    server, client = capped
    listen = client.create_proxy("echo", echo_server.address).listen
    host, port = listen.rsplit(":", 1)
    links = server.server.collection.get("echo").connections
    held = [socket.create_connection((host, int(port))) for _ in range(5)]
    try:
        for n, sock in enumerate(held):
            assert _echo_once(sock, b"ping %d" % n) == b"ping %d" % n
        extra = socket.create_connection((host, int(port)))
        assert _closed_at_once(extra)
        extra.close()
        assert all(_echo_once(sock, b"still") == b"still" for sock in held)
        assert server.call(lambda: server.server.collection.get("echo").refused) == 1
        held.pop().close()
        wait_until(lambda: server.call(len, links) < 5, timeout=5, what="a slot to free")
        with socket.create_connection((host, int(port))) as again:
            assert _echo_once(again, b"room") == b"room"
    finally:
        for sock in held:
            sock.close()


class _Sink:
    """A server that accepts and never reads: everything the proxy forwards piles up."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"


def _fill(sock: socket.socket, limit: int) -> int:
    """Send until the socket stays unwritable for a while (the proxy stopped reading)."""
    sock.setblocking(False)
    sent, block = 0, b"x" * 65536
    while sent < limit:
        try:
            sent += sock.send(block)
        except BlockingIOError:
            _, writable, _ = select.select([], [sock], [], 0.5)
            if not writable:
                break
    return sent


@pytest.mark.parametrize("early", [False, True], ids=["steady", "sent-before-upstream-opened"])
@pytest.mark.parametrize("cap", [64 << 10, 1 << 20])
def test_a_connection_holds_at_most_max_buffered_in_a_toxic_queue(cap, early):
    """``early``: the client's first bytes arrive before the upstream connection opens
    (connect_delay); they alone pass the cap, which once undid the pause for good."""
    sink = _Sink()
    with ProxyServer(limits=Limits(max_buffered=cap)) as server, Toxiproxy(server.url) as tp:
        listen = tp.create_proxy("slow", sink.address).listen
        # A latency far past the test holds every chunk after the first: the queue can only
        # grow, so what it holds at the end is its peak (a draining toxic such as bandwidth
        # lets the pump take a chunk between two samples, and the sample misses the peak).
        tp.add_toxic("slow", "latency", stream="upstream", attributes={"latency": 600_000})
        if early:
            tp.add_toxic("slow", "connect_delay", stream="upstream", attributes={"delay": 300})
        host, port = listen.rsplit(":", 1)
        links = server.server.collection.get("slow").connections
        with socket.create_connection((host, int(port))) as sock:
            if early:
                sock.sendall(b"y" * (2 * cap))

            def queued() -> int:
                return server.call(lambda: max(link.up.held() for link in links))

            # Push until the socket stays full; again if the proxy was only slow to read
            # (a busy machine), until its queue passed the cap and reading paused.
            sent = 0
            for _ in range(20):
                sent += _fill(sock, (64 << 20) - sent)
                if queued() >= cap or sent >= 64 << 20:
                    break
            held = queued()
    sink.listener.close()
    assert sent < 64 << 20, "the proxy kept reading: nothing bounds what it holds"
    # Reading pauses once the queue passes the cap; one read (at most 256 KiB) may land on
    # top. The queue filled to the cap, so the cap, not something earlier, stopped reading.
    assert cap <= held <= cap + (256 << 10)


def test_a_frame_longer_than_max_buffered_is_not_held_whole(redis_session):
    """A protocol toxic waits for whole frames; past the cap it forwards as it reads."""
    cap = 64 << 10
    with ProxyServer(limits=Limits(max_buffered=cap)) as server, Toxiproxy(server.url) as tp:
        listen = tp.create_proxy("redis", f"127.0.0.1:{redis_session.port}").listen
        tp.add_toxic("redis", "redis_command", attributes={"commands": ["GET"], "action": "error"})
        links = server.server.collection.get("redis").connections

        def held_by_parsers() -> int:
            return max(
                entry.state.requests.pending
                for link in links
                for entry in link.up.entries
                if entry.active
            )

        value = bytes(range(256)) * 4096  # 1 MiB
        frame = b"*3\r\n$3\r\nSET\r\n$9\r\nbig-frame\r\n$%d\r\n%s\r\n" % (len(value), value)
        host, port = listen.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(frame[: len(frame) // 2])  # half a frame: a parser would wait
            wait_until(
                lambda: server.call(lambda: sum(link.up.seen for link in links)) >= len(frame) // 2,
                timeout=10,
                what="the proxy to read half the frame",
            )
            assert server.call(held_by_parsers) <= cap
            sock.sendall(frame[len(frame) // 2 :])
            sock.settimeout(10)
            assert sock.recv(16) == b"+OK\r\n"
    direct = redis.Redis(port=redis_session.port)
    assert direct.get("big-frame") == value
    direct.delete("big-frame")
