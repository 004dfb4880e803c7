"""Proxy memory per idle connection: RSS growth of the proxy process over N open connections.

    python benchmarks/idle_memory.py [--idle-connections 1000] [--runs 3]

Each run starts a fresh proxy server, opens and closes one connection (so
lazily built state exists before the baseline), reads VmRSS, opens
``--idle-connections`` idle connections through it to a listener that accepts
and holds them, waits until the listener holds them all (so both sockets of
every connection exist in the proxy), reads VmRSS again, and divides.
Goal <= 32 KB per connection.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Figure,
    Goal,
    Listener,
    ProxyUnderTest,
    proxy_servers,
    rss_kib,
    script_main,
)

from chaoslib.wait import wait_until  # noqa: E402


class Holder(Listener):
    """Accepts connections and keeps them open, counting them."""

    def __init__(self) -> None:
        self.held: list[socket.socket] = []
        super().__init__()

    def accepted(self, conn: socket.socket) -> None:
        self.held.append(conn)

    def close(self) -> None:
        super().close()
        for conn in self.held:
            conn.close()


def one_run(server: ProxyUnderTest, connections: int) -> float:
    """KB (1000 bytes) of proxy RSS per idle connection."""
    holder = Holder()
    clients: list[socket.socket] = []
    try:
        proxy = server.api.create_proxy("idle", upstream=f"127.0.0.1:{holder.port}")
        with socket.create_connection(("127.0.0.1", proxy.listen_port)):
            wait_until(lambda: len(holder.held) == 1, timeout=10, what="the warm-up connection")
        before = rss_kib(server.pid)
        for _ in range(connections):
            clients.append(socket.create_connection(("127.0.0.1", proxy.listen_port)))
        wait_until(
            lambda: len(holder.held) == connections + 1,
            timeout=60,
            what=f"{connections} upstream connections",
        )
        after = rss_kib(server.pid)
        return (after - before) * 1024 / 1000 / connections
    finally:
        for client in clients:
            client.close()
        holder.close()


def measure(servers: list[ProxyUnderTest], args: argparse.Namespace) -> list[Figure]:
    figures = []
    for target in [s.target for s in servers]:
        per_connection = []
        for _ in range(args.runs):
            # A fresh process each run: freed memory stays in the allocator's pools.
            with proxy_servers() as fresh:
                server = next(s for s in fresh if s.target == target)
                per_connection.append(one_run(server, args.idle_connections))
        figures.append(
            Figure(
                f"RSS per idle connection ({args.idle_connections} open)",
                target,
                tuple(per_connection),
                Goal("at_most", 32.0),
                "KB",
                ".1f",
            )
        )
    return figures


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--idle-connections", type=int, default=1000)


if __name__ == "__main__":
    sys.exit(script_main(__doc__, measure, add_args))
