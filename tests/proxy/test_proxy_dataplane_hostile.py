"""The proxy's data plane under hostile use (issue 18, defects 6, 11 and 14).

A thousand toxics on one direction, a toxic that raises, a process out of
file descriptors, an upstream that never reads, and reset_peer changed while a
connection waits for its reset. Real sockets, a real echo server, the real
proxy (in-process, or ``python -m chaoslib.proxy`` where the process's
open-files limit is the point).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from loguru import logger

from chaoslib.proxy import ProxyServer
from chaoslib.proxy.limits import Limits
from chaoslib.proxy.toxics.base import Chunk, Toxic
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import WaitTimeout, wait_until
from tests.helpers import REPO


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """What chaoslib logs at WARNING and above while the test runs, as "LEVEL message"."""
    lines: list[str] = []
    logger.enable("chaoslib")
    sink = logger.add(
        lambda message: lines.append(str(message)), level="WARNING", format="{level} {message}"
    )
    try:
        yield lines
    finally:
        logger.remove(sink)
        logger.disable("chaoslib")


def _exchange(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    return bytes(got)


def _ended(sock: socket.socket, timeout: float = 5.0) -> str:
    """How the proxy ended the connection: "reset", "eof", or "open" if it did not."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "open"
    return "eof"


# -- defect 6: long chains, and a pump that fails -----------------------------------------


@pytest.mark.parametrize(
    ("stream", "toxic"),
    [
        ("upstream", {"type": "noop"}),
        ("downstream", {"type": "latency", "attributes": {"latency": 0}}),
    ],
    ids=["1500-noop-upstream", "1500-latency-0-downstream"],
)
def test_a_chain_of_1500_toxics_on_one_direction_forwards_every_byte(echo_server, stream, toxic):
    chain = [{**toxic, "name": f"t{n}", "stream": stream} for n in range(1500)]
    config = [
        {"name": "long", "listen": "127.0.0.1:0", "upstream": echo_server.address, "toxics": chain}
    ]
    with (
        ProxyServer(limits=Limits(max_toxics=1500), config=config) as server,
        Toxiproxy(server.url) as tp,
    ):
        listen = tp.get_proxy("long").listen
        host, port = listen.rsplit(":", 1)
        payload = os.urandom(1 << 20)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            echoed = _exchange(sock, payload)
        assert hashlib.sha256(echoed).hexdigest() == hashlib.sha256(payload).hexdigest()
        assert len(tp.get_proxy("long").toxics) == 1500


@dataclass(frozen=True)
class _NoAttributes:
    pass


@pytest.fixture
def failing_toxics() -> Iterator[None]:
    """Two extension toxic types with a bug: one raises on data, one on connect.

    Registered for this test only (a toxic type registers itself by subclassing),
    so no other test sees them in the catalogue."""

    class Explodes(Toxic):
        type_name = "test_explodes"
        Attributes = _NoAttributes

        async def pipe(self, chunk: Chunk, ctx: Any, state: Any) -> AsyncIterator[bytes]:
            raise RuntimeError("this toxic has a bug")
            yield chunk.data

    class ExplodesOnConnect(Toxic):
        type_name = "test_explodes_on_connect"
        Attributes = _NoAttributes

        async def on_connect(self, ctx: Any, state: Any) -> None:
            raise RuntimeError("this toxic has a bug at connect")

    try:
        yield
    finally:
        for cls in (Explodes, ExplodesOnConnect):
            Toxic.registry.pop(cls.type_name, None)


@pytest.mark.parametrize("kind", ["test_explodes", "test_explodes_on_connect"])
def test_a_toxic_that_raises_resets_the_connection_and_is_logged(
    echo_server, failing_toxics, log_lines, kind
):
    with ProxyServer() as server, Toxiproxy(server.url) as tp:
        proxy = tp.create_proxy("buggy", echo_server.address)
        tp.add_toxic("buggy", kind, name="bug", stream="upstream")
        with socket.socket() as sock:
            sock.settimeout(5)
            try:  # (the connect-time one may reset it before connect or send return)
                sock.connect(("127.0.0.1", proxy.listen_port))
                sock.sendall(b"hello")
            except ConnectionResetError:
                ended = "reset"
            else:
                ended = _ended(sock)
        assert ended == "reset"  # not a hang, and not a clean-looking FIN
        wait_until(
            lambda: any("proxy buggy" in line for line in log_lines), timeout=5, what="a log line"
        )
        (line,) = [line for line in log_lines if "proxy buggy" in line]
        assert line.startswith("ERROR") and "this toxic has a bug" in line and "resetting" in line
        links = server.server.collection.get("buggy").connections
        wait_until(lambda: server.call(len, links) == 0, timeout=5, what="the connection to go")
        tp.remove_toxic("buggy", "bug")
        with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5) as sock:
            assert _exchange(sock, b"fine") == b"fine"


# -- defect 14 (a): what a connection holds against a stalled upstream ---------------------


def _sink() -> socket.socket:
    """A server that accepts and never reads, with a receive buffer as small as allowed."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited on accept
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


@pytest.mark.parametrize(
    "toxic", [None, "noop", "latency"], ids=["fast-path", "noop", "latency-holds"]
)
def test_a_stalled_upstream_holds_at_most_the_cap_plus_one_read(toxic):
    """Held = bytes read from the client that the upstream's kernel socket has not taken.

    The client sends 16 KiB at a time and waits until the proxy has read it, so no read
    is larger than 16 KiB: the documented bound, "the cap + one read", is then exact."""
    cap, step = 32 << 10, 16 << 10
    sink = _sink()
    with ProxyServer(limits=Limits(max_buffered=cap)) as server, Toxiproxy(server.url) as tp:
        tp.create_proxy("stall", f"127.0.0.1:{sink.getsockname()[1]}")
        if toxic == "latency":  # every chunk sleeps past the test: the queue only grows
            tp.add_toxic("stall", "latency", stream="upstream", attributes={"latency": 600_000})
        elif toxic == "noop":
            tp.add_toxic("stall", "noop", stream="upstream")
        proxy = server.server.collection.get("stall")
        counters = proxy.counters["upstream"]

        def held() -> int:
            (link,) = proxy.connections
            buffered = link.upstream.get_write_buffer_size() if link.upstream else 0
            return counters.received - counters.sent + buffered

        host, port = proxy.listen.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            total, block = 0, b"x" * step
            while total < 64 << 20:
                sock.sendall(block)
                total += step

                def read_or_paused(total: int = total) -> tuple[bool, bool]:
                    (link,) = proxy.connections
                    return counters.received == total, not link.client.is_reading()

                wait_until(lambda: any(server.call(read_or_paused)), timeout=10, interval=0.002)
                if server.call(read_or_paused)[0]:
                    continue  # all of the step read
                try:  # paused: for a moment (the upstream's kernel buffer drained), or for good
                    wait_until(
                        lambda total=total: server.call(lambda: counters.received) == total,
                        timeout=0.5,
                        interval=0.01,
                    )
                except WaitTimeout:
                    break  # (held is bounded at every moment, so stopping early proves no less)
            peak = server.call(held)
    sink.close()
    assert total < 64 << 20, "the proxy kept reading: nothing bounds what it holds"
    assert peak <= cap + step, f"held {peak} bytes, over the cap {cap} + one read {step}"
    if toxic == "latency":
        assert peak > cap  # the cap, not something earlier, stopped the reading


# -- defect 14 (b): reset_peer's timer runs out whatever happens to the toxic --------------


@pytest.mark.parametrize("change", ["remove", "timeout-to-0", "toxicity-to-0"])
def test_a_connection_waiting_in_reset_peer_is_reset_when_the_timer_fires(echo_server, change):
    """As Toxiproxy: the wait that started on the first chunk is not interrupted."""
    wait_s = 1.0
    with ProxyServer() as server, Toxiproxy(server.url) as tp:
        proxy = tp.create_proxy("rp", echo_server.address)
        tp.add_toxic("rp", "reset_peer", name="rp", stream="upstream", attributes={"timeout": 1000})
        counters = server.server.collection.get("rp").counters["upstream"]
        with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5) as sock:
            sent_at = time.monotonic()
            sock.sendall(b"first")
            wait_until(
                lambda: server.call(lambda: counters.received) == 5,
                timeout=5,
                what="the proxy to read the first chunk",
            )
            if change == "remove":
                tp.remove_toxic("rp", "rp")
            elif change == "timeout-to-0":
                tp.update_toxic("rp", "rp", attributes={"timeout": 0})
            else:
                tp.update_toxic("rp", "rp", toxicity=0)
            assert _ended(sock, timeout=0.3) == "open"  # the change did not reset it
            assert _ended(sock, timeout=10) == "reset"
            elapsed = time.monotonic() - sent_at
    # The proxy's timer began after the send, so the reset cannot come sooner (a timer may
    # fire a millisecond early).
    assert elapsed >= wait_s - 0.01
    if change == "remove":
        with Toxiproxy(server.url):
            pass


# -- defect 11: at the open-files limit --------------------------------------------------


_LIMITED = (
    "import os, resource, sys; soft, hard = int(sys.argv[1]), int(sys.argv[2]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)); "
    "os.execv(sys.executable, [sys.executable, '-m', 'chaoslib.proxy', *sys.argv[3:]])"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LimitedProxy:
    """``python -m chaoslib.proxy`` started under an open-files limit of ``soft``/``hard``."""

    def __init__(self, soft: int, hard: int, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LIMITED, str(soft), str(hard), "-port", str(self.port), *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Both pipes drained by threads, so a chatty proxy never blocks on a full pipe.
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(pipe, lines), daemon=True)
            for pipe, lines in (
                (self.process.stdout, self.stdout),
                (self.process.stderr, self.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()
        try:
            wait_until(
                lambda: self.stdout or self.process.poll() is not None,
                timeout=30,
                what="the proxy to start",
            )
            assert self.stdout and "API on" in self.stdout[0]
        except BaseException:
            print(self.stop())
            raise

    def startup_line(self) -> str:
        """The line after "API on": the open-files limit and the connection cap."""
        try:
            wait_until(lambda: len(self.stdout) >= 2, timeout=5, what="the open-files line")
        except WaitTimeout:
            return ""
        return self.stdout[1]

    @staticmethod
    def _read(pipe: Any, lines: list[str]) -> None:
        for line in pipe:
            lines.append(line)

    def metric(self, name: str, proxy: str | None = None) -> int:
        text = requests.get(self.url + "/metrics", timeout=5).text
        label = f'{{proxy="{proxy}"}}' if proxy else ""
        match = re.search(rf"^{re.escape(name + label)} (\d+)$", text, re.M)
        assert match, f"{name}{label} not in /metrics"
        return int(match.group(1))

    def stop(self) -> str:
        """Stop it (idempotent) and return what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(5)
        return "".join(self.stderr)


def _flood(port: int, attempts: int) -> tuple[list[socket.socket], int]:
    """Open ``attempts`` connections and echo a byte on each: (the working ones, failures)."""
    working, failed = [], 0
    for _ in range(attempts):
        sock = socket.socket()
        sock.settimeout(5)
        try:
            # (A reset can beat the connect's own return: then connect raises.)
            sock.connect(("127.0.0.1", port))
            if _exchange(sock, b"x") == b"x":
                working.append(sock)
                continue
        except OSError:
            pass
        failed += 1
        sock.close()
    return working, failed


@pytest.mark.parametrize(
    ("args", "reason"),
    [((), "the cap (-max-connections)"), (("-max-connections", "1000"), "open-files limit")],
    ids=["derived-cap", "cap-above-the-files"],
)
def test_connections_past_the_open_files_limit_are_counted_logged_and_survivable(
    echo_server, args, reason
):
    """Soft and hard limit 64: the proxy cannot raise it, and has room for 16 connections."""
    server = LimitedProxy(64, 64, *args)
    try:
        tp = Toxiproxy(server.url, timeout=5)
        port = tp.create_proxy("flood", echo_server.address).listen_port
        working, failed = _flood(port, 40)
        try:
            # The API still answers in the middle of the flood, and counted every refusal.
            assert server.metric("chaoslib_proxy_refused_total", "flood") == failed
            assert tp.get_proxy("flood").enabled
            assert (len(working), failed) == (16, 24)
        finally:
            for sock in working:
                sock.close()
        wait_until(
            lambda: server.metric("chaoslib_proxy_connections", "flood") == 0,
            timeout=5,
            what="the flood's connections to close",
        )
        again, failed = _flood(port, 16)  # the room is back
        for sock in again:
            sock.close()
        assert (len(again), failed) == (16, 0)
        assert server.metric("chaoslib_connection_budget") == 16
        assert server.metric("chaoslib_proxy_max_connections", "flood") == (
            16 if not args else 1000
        )
        line = server.startup_line()
        assert "open files: 64 (hard 64; already the hard limit)" in line
        assert f"-max-connections {'16 (derived)' if not args else '1000 (set)'}" in line
    finally:
        err = server.stop()
    assert "proxy flood: " in err and reason in err, err


def test_the_soft_open_files_limit_is_raised_to_the_hard_one_and_the_cap_follows():
    server = LimitedProxy(48, 96)
    try:
        line = server.startup_line()
        assert "open files: 96 (hard 96; raised from 48)" in line
        assert "-max-connections 32 (derived)" in line  # (96 - 32 kept back) / 2
        assert server.metric("chaoslib_open_files_limit") == 96
    finally:
        server.stop()
