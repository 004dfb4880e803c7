"""What a protocol-aware toxic costs when it matches nothing, side by side in one run.

    python benchmarks/protocol_toxics.py [--requests 200000] [--runs 3] [--seconds 5]

One proxy server, two proxies per server: one without toxics, one with a
``redis_command`` (or ``pg_query``) toxic that matches nothing but still parses
every command and reply (action ``error``, so the reply sequencer runs too).
Redis load: ``redis-benchmark -t get,set`` at ``-c 50`` and ``-c 50 -P 16``;
PostgreSQL load: ``pgbench -S`` (select only) with 8 clients, simple and
extended protocol. Targets are interleaved; medians of ``--runs``. The goal is
a ratio of at least 0.8 (toxic installed ÷ no toxic).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cpu_model, start_proxy_server  # noqa: E402
from proxy import redis_benchmark  # noqa: E402

from chaoslib.services.binaries import find_postgres_bindir  # noqa: E402
from chaoslib.services.managed import pick_free_port  # noqa: E402
from chaoslib.services.postgres import PostgresServer  # noqa: E402
from chaoslib.services.redis import RedisServer  # noqa: E402
from chaoslib.toxiproxy.client import Toxiproxy  # noqa: E402

REDIS_LOADS = {"-c 50": ["-c", "50"], "-c 50 -P 16": ["-c", "50", "-P", "16"]}
NOTHING_REDIS = {"commands": ["PUBLISH"], "action": "error"}
NOTHING_PG = {"pattern": "^NOTHING MATCHES THIS", "action": "error"}


def pair(api: Toxiproxy, name: str, upstream: int, toxic: str, attrs: dict) -> dict[str, int]:
    plain = api.create_proxy(f"{name}-plain", upstream=f"127.0.0.1:{upstream}")
    toxic_proxy = api.create_proxy(f"{name}-{toxic}", upstream=f"127.0.0.1:{upstream}")
    api.add_toxic(toxic_proxy.name, toxic, attributes=attrs)
    return {"no toxic": plain.listen_port, toxic: toxic_proxy.listen_port}


def pgbench(bindir: Path, pg: PostgresServer, port: int, mode: str, seconds: int) -> float:
    out = subprocess.run(
        [
            str(bindir / "pgbench"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            pg.user,
            "-S",
            "-c",
            "8",
            "-j",
            "2",
            "-M",
            mode,
            "-T",
            str(seconds),
            "-n",
            pg.database,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    found = re.search(r"tps = ([\d.]+)", out)
    if not found:
        raise RuntimeError(f"pgbench printed no result: {out[-300:]}")
    return float(found.group(1))


def compare(label: str, runs: dict[str, list[float]], unit: str) -> None:
    names = list(runs)
    base = statistics.median(runs[names[0]])
    with_toxic = statistics.median(runs[names[1]])
    spread = f"{min(runs[names[1]]):,.0f}-{max(runs[names[1]]):,.0f}"
    print(
        f"  {label:<24} no toxic {base:>10,.0f}  {names[1]} {with_toxic:>10,.0f} {unit}"
        f"  ratio {with_toxic / base:.2f}  (spread {spread})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chaoslib-bench-"))
    redis_server = RedisServer(workdir / "redis")
    pg = PostgresServer(workdir / "pg")
    port = pick_free_port()
    proc = start_proxy_server([sys.executable, "-m", "chaoslib.proxy", "-port", str(port)], port)
    try:
        redis_server.start()
        pg.start()
        api = Toxiproxy(f"http://127.0.0.1:{port}")
        print(f"machine: nproc {os.cpu_count()}, {cpu_model()}")
        if shutil.which("redis-benchmark"):
            targets = pair(api, "redis", redis_server.port, "redis_command", NOTHING_REDIS)
            print(f"\nRedis, requests/s, median of {args.runs}")
            for test in ("get", "set"):
                for label, load in REDIS_LOADS.items():
                    runs: dict[str, list[float]] = {name: [] for name in targets}
                    for _ in range(args.runs):
                        for name, target in targets.items():
                            runs[name].append(redis_benchmark(target, test, load, args.requests))
                    compare(f"{test.upper()} {label}", runs, "req/s")
        else:
            print("redis-benchmark is not installed (apt-get install redis-tools); Redis skipped")
        bindir = Path(find_postgres_bindir().path)
        if (bindir / "pgbench").exists():
            subprocess.run(
                [
                    str(bindir / "pgbench"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(pg.port),
                    "-U",
                    pg.user,
                    "-i",
                    "-s",
                    "1",
                    "-q",
                    pg.database,
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            targets = pair(api, "pg", pg.port, "pg_query", NOTHING_PG)
            print(f"\nPostgreSQL, pgbench -S -c 8, transactions/s, median of {args.runs}")
            for mode in ("simple", "extended"):
                runs = {name: [] for name in targets}
                for _ in range(args.runs):
                    for name, target in targets.items():
                        runs[name].append(pgbench(bindir, pg, target, mode, args.seconds))
                compare(f"pgbench -M {mode}", runs, "tps")
        else:
            print(f"no pgbench in {bindir}; PostgreSQL skipped")
    finally:
        proc.terminate()
        proc.wait(10)
        redis_server.stop()
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
