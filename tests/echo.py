"""A real TCP echo server for proxy tests (the toxics need a peer, not a fake of anything)."""

from __future__ import annotations

import re
import socket
import socketserver
import threading
import time


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class EchoServer:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Echo)
        self.port = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def connect(proxy, timeout: float = 5.0) -> socket.socket:
    """A client socket to ``proxy``'s listen port, Nagle off so each write is a chunk."""
    sock = socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Seconds for ``payload`` to come back whole through the echo."""
    start = time.monotonic()
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        received += chunk
    assert received == payload
    return time.monotonic() - start


def counted(client, proxy: str, direction: str, kind: str = "received") -> int:
    """Bytes the proxy ``proxy`` has counted (Toxiproxy's /metrics) for one direction."""
    pattern = (
        rf'toxiproxy_proxy_{kind}_bytes_total{{direction="{direction}"[^}}]*'
        rf'proxy="{re.escape(proxy)}"[^}}]*}} (\d+)'
    )
    found = re.search(pattern, client.metrics())
    assert found, f"no {kind} counter for {proxy} {direction}"
    return int(found.group(1))
