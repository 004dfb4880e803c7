"""Wall time of the ``fast`` chaos suite, with each scenario's time.

    python benchmarks/suite_time.py [--runs 3]

Runs ``invoke chaos.suite --report-dir D`` as a user would (embedded stack,
fast timing) and reads each scenario's duration from ``D/journal.json``.
The suite's figure is the wall time of the whole command, stack start and
stop included. Goal <= 3 min. This is not a proxy figure, so Toxiproxy has
no column here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, Goal, ProxyUnderTest, script_main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def one_suite() -> tuple[float, dict[str, float]]:
    reports = Path(tempfile.mkdtemp(prefix="chaoslib-suite-"))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "chaos.suite", "--report-dir", str(reports)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        (reports / "output.txt").write_text(done.stdout + done.stderr)
        failed = [line for line in done.stdout.splitlines() if "failed" in line or "❌" in line]
        raise RuntimeError(
            f"the suite failed (reports and output kept in {reports}):\n" + "\n".join(failed)
        )
    journal = json.loads((reports / "journal.json").read_text())
    shutil.rmtree(reports, ignore_errors=True)
    return wall, {s["name"]: s["duration_s"] for s in journal["scenarios"]}


def measure(servers: list[ProxyUnderTest], args: argparse.Namespace) -> list[Figure]:
    walls, per_scenario = [], {}
    for n in range(args.runs):
        print(f"suite run {n + 1} of {args.runs} …", flush=True)
        wall, scenarios = one_suite()
        walls.append(wall)
        for name, seconds in scenarios.items():
            per_scenario.setdefault(name, []).append(seconds)
    print("scenario times, s (median; spread):")
    for name, runs in per_scenario.items():
        print(f"  {name:<24} {statistics.median(runs):6.1f}  ({min(runs):.1f}-{max(runs):.1f})")
    return [
        Figure(
            "fast suite, wall time", "chaoslib", tuple(walls), Goal("at_most", 180.0), "s", ".1f"
        )
    ]


if __name__ == "__main__":
    sys.exit(script_main(__doc__, measure))
