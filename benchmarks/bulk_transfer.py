"""Bulk transfer: 1 GiB over one connection, through the proxy ÷ direct.

    python benchmarks/bulk_transfer.py [--gib 1] [--runs 3]

The sender (this process) writes 4 MiB buffers with ``sendall``; the sink is
a separate process that reads with ``recv_into`` and answers one byte when
all the bytes are in, so both ends run at C speed and neither shares a GIL
with the other. Direct and proxied runs are interleaved. Goal >= 0.70.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Figure,
    Goal,
    ProxyUnderTest,
    bare_forwarders,
    cpu_seconds,
    fresh_proxy,
    script_main,
)

BLOCK = 4 << 20


def _sink(listener: socket.socket, total: int) -> None:
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while True:
        conn, _ = listener.accept()
        with conn:
            received = 0
            while received < total:
                n = conn.recv_into(view)
                if n == 0:
                    break
                received += n
            conn.sendall(b"k" if received == total else b"x")


def transfer(port: int, total: int, pids: dict[str, int]) -> tuple[float, dict[str, float]]:
    """Bytes per second for ``total`` bytes sent to the sink behind ``port``, and CPU s used."""
    block = b"\xa5" * BLOCK
    with socket.create_connection(("127.0.0.1", port)) as sock:
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        start = time.perf_counter()
        for _ in range(total // BLOCK):
            sock.sendall(block)
        answer = sock.recv(1)
        elapsed = time.perf_counter() - start
        used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    if answer != b"k":
        raise RuntimeError(f"the sink did not get all {total} bytes (answer {answer!r})")
    return total / elapsed, used


def measure(servers: list[ProxyUnderTest], args: argparse.Namespace) -> list[Figure]:
    total = int(args.gib * (1 << 30)) // BLOCK * BLOCK
    listener = socket.create_server(("127.0.0.1", 0))
    sink = multiprocessing.get_context("fork").Process(
        target=_sink, args=(listener, total), daemon=True
    )
    sink.start()
    try:
        targets = {"direct": listener.getsockname()[1]}
        for server in servers:
            targets[server.target] = fresh_proxy(
                server, "bulk", listener.getsockname()[1]
            ).listen_port
        pids = {"sender": os.getpid(), "sink": sink.pid, **{s.target: s.pid for s in servers}}
        with bare_forwarders(listener.getsockname()[1], ("uvloop", "splice")) as bare:
            targets.update({name: port for name, (port, _) in bare.items()})
            pids.update({name: pid for name, (_, pid) in bare.items()})
            rates, cpu = _run(targets, pids, total, args.runs)
        print(f"bulk transfer, {total / (1 << 30):.2f} GiB on one connection")
        for name, runs in rates.items():
            spent = {k: sum(u[k] for u in cpu[name]) / len(runs) for k in cpu[name][0]}
            print(
                f"  {name:<12} MB/s "
                + " ".join(f"{r / 1e6:,.0f}" for r in runs)
                + "   CPU s per run: "
                + ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
            )
        return [
            Figure(
                f"bulk {args.gib:g} GiB, proxy ÷ direct",
                name,
                tuple(p / d for p, d in zip(rates[name], rates["direct"], strict=True)),
                Goal("at_least", 0.70) if name in ("chaoslib", "toxiproxy") else None,
            )
            for name in rates
            if name != "direct"
        ]
    finally:
        sink.kill()
        listener.close()


def _run(
    targets: dict[str, int], pids: dict[str, int], total: int, runs: int
) -> tuple[dict[str, list[float]], dict[str, list[dict[str, float]]]]:
    """Interleaved transfers; per target the rates and the CPU seconds each process used."""
    rates: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for _ in range(runs):
        for name, port in targets.items():
            # Where the 2 cores go: on loopback each end's copy is most of the work,
            # and a proxy's CPU comes out of the same two cores.
            watched = {"sender": pids["sender"], "sink": pids["sink"]}
            if name in pids:
                watched[name] = pids[name]
            rate, used = transfer(port, total, watched)
            rates[name].append(rate)
            cpu[name].append(used)
    return rates, cpu


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gib", type=float, default=1.0, help="GiB per transfer")


if __name__ == "__main__":
    sys.exit(script_main(__doc__, measure, add_args))
