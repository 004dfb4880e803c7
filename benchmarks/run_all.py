"""Every benchmark in one run, one table: figure, target, median, spread, goal, met, ÷ Toxiproxy.

    python benchmarks/run_all.py [--runs 3] [--only NAME,...] [--markdown]

Runs each figure's script in turn against one chaoslib proxy process (and
toxiproxy-server too when ``TOXIPROXY_BIN`` names one, so the last column is
chaoslib ÷ Toxiproxy from the same run). Scripts: proxy (redis-benchmark
ratios, added latency), bulk_transfer, toxic_accuracy (latency and
bandwidth), activation, toxic_churn, idle_memory, suite_time. Each script
also runs alone with the same options. Exit 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import activation  # noqa: E402
import bulk_transfer  # noqa: E402
import idle_memory  # noqa: E402
import proxy  # noqa: E402
import suite_time  # noqa: E402
import toxic_accuracy  # noqa: E402
import toxic_churn  # noqa: E402
from common import base_parser, cpu_model, exit_code, print_table, proxy_servers  # noqa: E402

SCRIPTS = {
    "proxy": proxy,
    "bulk_transfer": bulk_transfer,
    "toxic_accuracy": toxic_accuracy,
    "activation": activation,
    "toxic_churn": toxic_churn,
    "idle_memory": idle_memory,
    "suite_time": suite_time,
}


def parse_args() -> argparse.Namespace:
    parser = base_parser(__doc__)
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(SCRIPTS)}"
    )
    for module in SCRIPTS.values():
        if hasattr(module, "add_args"):
            module.add_args(parser)
    args = parser.parse_args()
    unknown = [n for n in args.only.split(",") if n and n not in SCRIPTS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; accepted: {', '.join(SCRIPTS)}")
    return args


def main() -> int:
    args = parse_args()
    chosen = [n for n in SCRIPTS if not args.only or n in args.only.split(",")]
    toxiproxy = os.environ.get("TOXIPROXY_BIN")
    print(f"machine: nproc {os.cpu_count()}, {cpu_model()}; runs per figure: {args.runs}")
    print(f"toxiproxy: {toxiproxy or 'not measured (set TOXIPROXY_BIN to a toxiproxy-server)'}")
    figures = []
    started = time.perf_counter()
    with proxy_servers() as servers:
        for name in chosen:
            print(f"\n== {name}", flush=True)
            began = time.perf_counter()
            figures += SCRIPTS[name].measure(servers, args)
            print(f"   ({time.perf_counter() - began:.0f} s)", flush=True)
    print(f"\nall figures ({time.perf_counter() - started:.0f} s in all):\n")
    print_table(figures, markdown=args.markdown)
    return exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
