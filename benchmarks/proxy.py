"""Proxy overhead, side by side in one run: direct Redis vs the embedded proxy (vs Toxiproxy).

    python benchmarks/proxy.py [--requests 200000] [--runs 3]

Throughput comes from ``redis-benchmark -t get,set -q`` at ``-c 50``,
``-c 50 -P 16`` and ``-c 1`` (median of ``--runs``, targets interleaved so
drift hits all of them alike). Added latency is the p50/p99 of sequential
PING round trips through each target minus the direct ones. Set
``TOXIPROXY_BIN`` to a real toxiproxy-server to measure it in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaoslib.services.managed import pick_free_port  # noqa: E402
from chaoslib.services.redis import RedisServer  # noqa: E402
from chaoslib.toxiproxy import Toxiproxy  # noqa: E402
from chaoslib.wait import wait_until  # noqa: E402

LOADS = {
    "-c 50": ["-c", "50"],
    "-c 50 -P 16": ["-c", "50", "-P", "16"],
    "-c 1": ["-c", "1"],
}


def start_proxy_server(argv: list[str], api_port: int) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(
        Toxiproxy(f"http://127.0.0.1:{api_port}", timeout=1).is_running,
        timeout=15,
        what="proxy API",
    )
    return proc


def add_proxy(api_port: int, upstream_port: int) -> int:
    proxy = Toxiproxy(f"http://127.0.0.1:{api_port}").create_proxy(
        "redis", upstream=f"127.0.0.1:{upstream_port}", listen=f"127.0.0.1:{pick_free_port()}"
    )
    return proxy.listen_port


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


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pings", type=int, default=20_000)
    args = parser.parse_args()
    if not shutil.which("redis-benchmark"):
        print("redis-benchmark is not installed (apt-get install redis-tools); throughput skipped")

    workdir = Path(tempfile.mkdtemp(prefix="chaoslib-bench-"))
    redis_server = RedisServer(workdir / "redis")
    redis_server.start()
    procs: list[subprocess.Popen] = []
    try:
        targets = {"direct": redis_server.port}
        api = pick_free_port()
        procs.append(
            start_proxy_server([sys.executable, "-m", "chaoslib.proxy", "-port", str(api)], api)
        )
        targets["chaoslib"] = add_proxy(api, redis_server.port)
        toxiproxy_bin = os.environ.get("TOXIPROXY_BIN")
        if toxiproxy_bin:
            api2 = pick_free_port()
            procs.append(start_proxy_server([toxiproxy_bin, "-port", str(api2)], api2))
            targets["toxiproxy"] = add_proxy(api2, redis_server.port)

        print(f"machine: {os.cpu_count()} cores, {_cpu_model()}")
        print(
            f"redis-server {redis_server.extra.get('version')} ({redis_server.extra.get('source')})"
        )
        if shutil.which("redis-benchmark"):
            print(f"\nthroughput, requests/s, median of {args.runs} (ratio to direct)")
            for test in ("get", "set"):
                for label, load in LOADS.items():
                    runs: dict[str, list[float]] = {name: [] for name in targets}
                    for _ in range(args.runs):
                        for name, port in targets.items():
                            runs[name].append(redis_benchmark(port, test, load, args.requests))
                    direct = statistics.median(runs["direct"])
                    cells = [f"direct {direct:>10,.0f}"]
                    for name in targets:
                        if name == "direct":
                            continue
                        med = statistics.median(runs[name])
                        spread = f"{min(runs[name]):,.0f}-{max(runs[name]):,.0f}"
                        cells.append(f"{name} {med:>10,.0f} ({med / direct:.2f}; {spread})")
                    print(f"  {test.upper():<3} {label:<12} " + "  ".join(cells))

        print(f"\nadded round-trip latency, {args.pings} sequential PINGs")
        base = ping_latencies(targets["direct"], args.pings)
        for name, port in targets.items():
            if name == "direct":
                continue
            samples = ping_latencies(port, args.pings)
            added50 = (percentile(samples, 0.5) - percentile(base, 0.5)) * 1000
            added99 = (percentile(samples, 0.99) - percentile(base, 0.99)) * 1000
            print(
                f"  {name:<9} p50 {added50:+.3f} ms   p99 {added99:+.3f} ms   "
                f"(direct p50 {percentile(base, 0.5) * 1000:.3f} ms)"
            )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
