"""Fault activation: from the API call's return to the effect an already-open client sees.

    python benchmarks/activation.py [--samples 200] [--runs 3]

Three faults, each on a connection that was opened (and used once) before
the call, through an echo upstream in a process of its own (a thread of this
one would take the GIL just as a close is being timed):

- ``reset_peer`` (timeout 0, upstream) added: the client's next request fails
  (the toxic acts on a connection's next chunk, as in Toxiproxy);
- the proxy disabled: the client's blocked ``recv`` sees the end;
- a 10 s ``latency`` toxic removed while a ping sits in it: the echo arrives.

A sample is "client saw it" minus "API call returned" (an effect seen before
the return counts as 0). p99 over ``--samples`` per run; goal <= 5 ms. With
``TOXIPROXY_BIN`` set, the two servers take their samples in turn, one each.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    EchoProcess,
    Figure,
    Goal,
    ProxyUnderTest,
    fresh_proxy,
    percentile,
    script_main,
)

WAIT = 5.0  # a client that sees nothing this long fails the run


def _open(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"x")
    if sock.recv(1) != b"x":
        raise RuntimeError("the echo did not answer through the proxy")
    sock.settimeout(WAIT)
    return sock


def _ended(sock: socket.socket) -> float:
    """Block until the connection ends (EOF or reset); when it did."""
    try:
        data = sock.recv(1)
        if data:
            raise RuntimeError(f"expected the connection to end, got {data!r}")
    except ConnectionResetError:
        pass
    return time.perf_counter()


def reset_sample(server: ProxyUnderTest, name: str, port: int) -> float:
    with _open(port) as sock:
        server.api.add_toxic(
            name, "reset_peer", name="rst", stream="upstream", attributes={"timeout": 0}
        )
        returned = time.perf_counter()
        sock.sendall(b"z")  # reset_peer acts on a connection's next chunk
        seen = _ended(sock)
    server.api.remove_toxic(name, "rst")
    return seen - returned


def disable_sample(server: ProxyUnderTest, name: str, port: int) -> float:
    with _open(port) as sock:
        server.api.update_proxy(name, enabled=False)
        returned = time.perf_counter()
        seen = _ended(sock)
    server.api.update_proxy(name, enabled=True)
    return seen - returned


def heal_sample(server: ProxyUnderTest, name: str, port: int) -> float:
    with _open(port) as sock:
        server.api.add_toxic(name, "latency", name="slow", attributes={"latency": 10_000})
        sock.sendall(b"y")
        # The echo answers in ~0.1 ms; 20 ms later its reply is surely held in the toxic
        # (the API has no per-connection view to wait on, and Toxiproxy must work too).
        time.sleep(0.02)
        server.api.remove_toxic(name, "slow")
        returned = time.perf_counter()
        if sock.recv(1) != b"y":
            raise RuntimeError("the held ping did not come back after the heal")
        seen = time.perf_counter()
    return seen - returned


KINDS = {"reset_peer added": reset_sample, "proxy disabled": disable_sample}
KINDS["latency removed"] = heal_sample


def measure(servers: list[ProxyUnderTest], args: argparse.Namespace) -> list[Figure]:
    echo = EchoProcess()
    figures = []
    try:
        for kind, sample in KINDS.items():
            ports = [fresh_proxy(s, "activation", echo.port).listen_port for s in servers]
            p99s: list[list[float]] = [[] for _ in servers]
            for _ in range(args.runs):
                samples: list[list[float]] = [[] for _ in servers]
                # Sample by sample in turn, so a busy moment of the machine falls on
                # both servers alike rather than on whichever ran then.
                for _ in range(args.samples):
                    for index, server in enumerate(servers):
                        took = sample(server, "activation", ports[index])
                        samples[index].append(max(0.0, took))
                for index, taken in enumerate(samples):
                    p99s[index].append(percentile(taken, 0.99) * 1000)
            for index, server in enumerate(servers):
                figures.append(
                    Figure(
                        f"activation p99: {kind}",
                        server.target,
                        tuple(p99s[index]),
                        Goal("at_most", 5.0),
                        "ms",
                        ".3f",
                    )
                )
    finally:
        echo.close()
    return figures


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=200, help="activations per run")


if __name__ == "__main__":
    sys.exit(script_main(__doc__, measure, add_args))
