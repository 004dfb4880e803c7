"""Proxy overhead, side by side in one run: direct Redis vs the embedded proxy (vs Toxiproxy).

    python benchmarks/proxy.py [--requests 200000] [--runs 3]

Throughput comes from ``redis-benchmark -t get,set -q`` at ``-c 50``,
``-c 50 -P 16`` and ``-c 1`` (median of ``--runs``, targets interleaved so
drift hits all of them alike). ``bare uvloop`` is ``bare_proxy.py``, the
smallest asyncio forwarder, shown as the ceiling for a Python proxy here. Added latency is the p50/p99 of sequential
PING round trips through each target minus the direct ones (goal p50
<= 0.10 ms). Set
``TOXIPROXY_BIN`` to a real toxiproxy-server to measure it in the same run.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
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
    percentile,
    script_main,
)

from chaoslib.services.redis import RedisServer  # noqa: E402

LOADS = {
    "-c 50": ["-c", "50"],
    "-c 50 -P 16": ["-c", "50", "-P", "16"],
    "-c 1": ["-c", "1"],
}
PROXIES = ("chaoslib", "toxiproxy")
GOALS = {"-c 50": 0.60, "-c 50 -P 16": 0.50, "-c 1": 0.50}  # GET; SET is shown without a goal


def redis_benchmark(port: int, test: str, load: list[str], requests: int) -> float:
    n = requests if "-P" in load or load[1] != "1" else max(requests // 4, 10_000)
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", test, "-n", str(n), "-q", *load],
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    found = re.findall(r"([\d.]+) requests per second", out.replace("\r", "\n"))
    if not found:
        raise RuntimeError(f"redis-benchmark printed no result: {out[-300:]}")
    return float(found[-1])


def ping_latencies(port: int, count: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(b"PING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += sock.recv(64)
            samples.append(time.perf_counter() - start)
    return samples


def _goal(target: str, goal: Goal | None) -> Goal | None:
    return goal if target in PROXIES else None  # the bare forwarders are references


def throughput(targets: dict[str, int], args: argparse.Namespace) -> list[Figure]:
    figures = []
    for test in ("get", "set"):
        for label, load in LOADS.items():
            runs: dict[str, list[float]] = {name: [] for name in targets}
            for _ in range(args.runs):
                for name, port in targets.items():
                    runs[name].append(redis_benchmark(port, test, load, args.requests))
            print(
                f"  {test.upper()} {label:<12} req/s: "
                + "  ".join(f"{n} {statistics.median(r):,.0f}" for n, r in runs.items())
            )
            goal = Goal("at_least", GOALS[label]) if test == "get" else None
            for target in targets:
                if target == "direct":
                    continue
                ratios = tuple(p / d for p, d in zip(runs[target], runs["direct"], strict=True))
                name = f"redis-benchmark {test.upper()} {label}, proxy ÷ direct"
                figures.append(Figure(name, target, ratios, _goal(target, goal)))
    return figures


def cpu_per_request(targets: dict[str, int], pids: dict[str, int], requests: int) -> None:
    """Where the 2 cores go under GET -c 50: CPU µs per request for each process."""
    print("  CPU µs per request, GET -c 50 (user + system, one run each):")
    for name, port in targets.items():
        watched = {"redis-server": pids["redis-server"]}
        if name in pids:
            watched[name] = pids[name]
        before = {k: cpu_seconds(pid) for k, pid in watched.items()}
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        redis_benchmark(port, "get", LOADS["-c 50"], requests)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = {
            "redis-benchmark": after.ru_utime + after.ru_stime - child.ru_utime - child.ru_stime
        }
        used.update({k: cpu_seconds(pid) - before[k] for k, pid in watched.items()})
        total = sum(used.values())
        print(
            f"    {name:<12} "
            + ", ".join(f"{k} {v / requests * 1e6:.1f}" for k, v in used.items())
            + f"; all {total / requests * 1e6:.1f}"
        )


def latency(targets: dict[str, int], args: argparse.Namespace) -> list[Figure]:
    """p50 of proxied PINGs minus p50 of direct ones, per run, in ms."""
    added: dict[str, list[float]] = {t: [] for t in targets if t != "direct"}
    for _ in range(args.runs):
        base = percentile(ping_latencies(targets["direct"], args.pings), 0.5)
        for target in added:
            through = percentile(ping_latencies(targets[target], args.pings), 0.5)
            added[target].append((through - base) * 1000)
    goal = Goal("at_most", 0.10)
    return [
        Figure("added round trip p50, no toxics", t, tuple(r), _goal(t, goal), "ms", ".3f")
        for t, r in added.items()
    ]


def measure(servers: list[ProxyUnderTest], args: argparse.Namespace) -> list[Figure]:
    workdir = Path(tempfile.mkdtemp(prefix="chaoslib-bench-"))
    redis_server = RedisServer(workdir / "redis")
    redis_server.start()
    try:
        targets = {"direct": redis_server.port}
        for server in servers:
            targets[server.target] = fresh_proxy(server, "redis", redis_server.port).listen_port
        print(
            f"redis-server {redis_server.extra.get('version')} ({redis_server.extra.get('source')})"
        )
        figures = []
        with bare_forwarders(redis_server.port, ("uvloop",)) as bare:
            targets.update({name: port for name, (port, _) in bare.items()})
            if shutil.which("redis-benchmark"):
                figures += throughput(targets, args)
                pids = {"redis-server": redis_server.pid, **{s.target: s.pid for s in servers}}
                pids.update({name: pid for name, (_, pid) in bare.items()})
                cpu_per_request(targets, pids, args.requests)
            else:
                print(
                    "redis-benchmark is not installed (apt-get install redis-tools); "
                    "throughput skipped"
                )
            return figures + latency(targets, args)
    finally:
        redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--pings", type=int, default=20_000)


if __name__ == "__main__":
    sys.exit(script_main(__doc__, measure, add_args))
