"""Toxic add/remove latency while 1,000 connections stream through the proxy.

    python benchmarks/toxic_churn.py [--connections 1000] [--cycles 10] [--runs 3]

A load process (uvloop) runs an echo upstream and ``--connections`` clients
through the proxy; each client sends 4 KiB, waits for it back, checks it and
repeats, so every connection streams all the time. Meanwhile this process
adds and removes ``latency``, ``bandwidth`` and ``slicer`` toxics and times
each API call. Per run: p99 and the slowest call; goal p99 <= 20 ms, and no
call may hang (the client gives up after 30 s, which fails the run). After
the run every client must still be streaming with intact data.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Figure,
    Goal,
    ProxyUnderTest,
    cpu_seconds,
    fresh_proxy,
    percentile,
    script_main,
)

from chaoslib.services.managed import pick_free_port  # noqa: E402

CHUNK = 4096
TOXICS = {
    "latency": ("downstream", {"latency": 5}),
    "bandwidth": ("upstream", {"rate": 1000}),
    "slicer": ("downstream", {"average_size": 512, "size_variation": 128, "delay": 0}),
}


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _client(port: int, n: int, interval: float, rounds: list[int], bad: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = bytes((n + i) % 251 for i in range(CHUNK))
    loop = asyncio.get_running_loop()
    due = loop.time() + interval * (n % 100) / 100  # spread the clients over the interval
    while True:
        # Pacing, not synchronisation: each client sends one chunk per interval.
        await asyncio.sleep(max(0.0, due - loop.time()))
        due += interval
        writer.write(payload)
        if await reader.readexactly(CHUNK) != payload:
            bad[0] += 1
        rounds[n] += 1


def _load(echo_port: int, proxy_port: int, connections: int, interval: float, conn) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        await asyncio.start_server(_echo, "127.0.0.1", echo_port, backlog=4096)
        conn.send("echo up")
        conn.recv()  # the proxy exists now
        rounds, bad = [0] * connections, [0]
        tasks = [
            asyncio.ensure_future(_client(proxy_port, n, interval, rounds, bad))
            for n in range(connections)
        ]
        while True:
            # Report on demand: how many clients moved since the last ask, and any bad data.
            await asyncio.get_running_loop().run_in_executor(None, conn.poll, None)
            conn.recv()
            before = list(rounds)
            await asyncio.sleep(1.0)
            failed = sum(1 for t in tasks if t.done())
            moved = sum(1 for a, b in zip(before, rounds, strict=True) if b > a)
            conn.send({"moved": moved, "failed": failed, "bad": bad[0], "rounds": sum(rounds)})

    asyncio.run(main())


def measure(servers: list[ProxyUnderTest], args: argparse.Namespace) -> list[Figure]:
    figures = []
    for server in servers:
        echo_port = pick_free_port()
        proxy = fresh_proxy(server, "churn", echo_port)
        here, there = multiprocessing.get_context("fork").Pipe()
        load = multiprocessing.get_context("fork").Process(
            target=_load,
            args=(echo_port, proxy.listen_port, args.connections, args.interval_ms / 1000, there),
            daemon=True,
        )
        load.start()
        try:
            here.recv()
            here.send("go")
            here.send("report")
            warm = here.recv()
            print(f"{server.target}: {warm['moved']} of {args.connections} connections streaming")
            p99s, slowest = [], []
            by_call: dict[str, list[float]] = {}
            pids = {"proxy": server.pid, "load": load.pid, "this client": os.getpid()}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            began = time.perf_counter()
            for _ in range(args.runs):
                samples = []
                for _ in range(args.cycles):
                    for kind, (stream, attributes) in TOXICS.items():
                        start = time.perf_counter()
                        server.api.add_toxic(
                            "churn", kind, name=kind, stream=stream, attributes=attributes
                        )
                        samples.append(time.perf_counter() - start)
                        by_call.setdefault(f"add {kind}", []).append(samples[-1])
                        start = time.perf_counter()
                        server.api.remove_toxic("churn", kind)
                        samples.append(time.perf_counter() - start)
                        by_call.setdefault(f"remove {kind}", []).append(samples[-1])
                p99s.append(percentile(samples, 0.99) * 1000)
                slowest.append(max(samples) * 1000)
            elapsed = time.perf_counter() - began
            print(
                "  CPU while churning: "
                + ", ".join(
                    f"{name} {(cpu_seconds(pid) - cpu_before[name]) / elapsed:.0%}"
                    for name, pid in pids.items()
                )
            )
            print(
                "  per call, p50/p99 ms: "
                + ", ".join(
                    f"{k} {percentile(v, 0.5) * 1000:.1f}/{percentile(v, 0.99) * 1000:.1f}"
                    for k, v in by_call.items()
                )
            )
            here.send("report")
            after = here.recv()
            print(
                f"  after {args.runs} x {len(TOXICS) * 2 * args.cycles} calls: "
                f"{after['moved']} streaming, {after['failed']} failed, "
                f"{after['bad']} bad echoes, {after['rounds']:,} round trips in all; "
                f"slowest call per run (ms): " + ", ".join(f"{s:.1f}" for s in slowest)
            )
            if after["failed"] or after["bad"] or after["moved"] < args.connections:
                raise RuntimeError(f"connections broke during the churn: {after}")
        finally:
            load.kill()
            load.join()
        name = f"toxic add/remove p99, {args.connections} streaming"
        figures.append(Figure(name, server.target, tuple(p99s), Goal("at_most", 20.0), "ms", ".1f"))
        figures.append(
            Figure(
                f"slowest add/remove, {args.connections} streaming",
                server.target,
                tuple(slowest),
                None,
                "ms",
                ".1f",
            )
        )
    return figures


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=20, help="add/remove cycles per toxic")
    parser.add_argument(
        "--interval-ms", type=float, default=100, help="each connection sends 4 KiB this often"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(script_main(__doc__, measure, add_args))
