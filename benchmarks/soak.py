"""Soak: the reference system and the proxy under random flapping faults and load.

    python benchmarks/soak.py --minutes 30 [--seed 1] [--samples 30] [--markdown]

Starts an embedded stack (Redis, PostgreSQL, chaoslib's proxy as its own
process) and the reference system (chaoslib/examples/arbees, as ``invoke chaos.suite``
runs it), then for ``--minutes``:

- **load**: a Redis stream writer/consumer and a PostgreSQL writer, each
  through the proxy, every acknowledged write to be read back (the loss
  checker of :func:`chaoslib.experiment.checks.no_loss`); the reference system's own
  traffic runs through its per-client proxies;
- **faults**: one random fault at a time on a random link, held 0.2-2 s with
  0.2-2 s between: link down, latency, a bandwidth squeeze, reset_peer, slicer;
- **samples**: RSS, open file descriptors and threads of the proxy process and
  of the reference system's processes (summed), the proxy's asyncio tasks and
  open connections (from its ``/metrics``), taken ``--samples`` times.

Growth is judged from the first sample after the warm-up (a fifth of the run)
to the last sample, against the stated slack (``SLACK``). Exit 1 if anything grew
past it, if any acknowledged write was lost or duplicated, or if a fault was
left behind (toxics, disabled proxies, ledger entries) at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaoslib.experiment.checks import no_loss  # noqa: E402
from chaoslib.faults.ledger import Ledger  # noqa: E402
from chaoslib.faults.network import Link  # noqa: E402
from chaoslib.log import configure_logging  # noqa: E402
from chaoslib.observe.history import History  # noqa: E402
from chaoslib.observe.workloads import PostgresWorkload, StreamWorkload  # noqa: E402
from chaoslib.profiles import load_profile  # noqa: E402
from chaoslib.services.stack import Stack, StackConfig  # noqa: E402
from chaoslib.target.system import LocalSystem  # noqa: E402

# Allowed growth from the warm-up sample to the last: (relative, absolute floor).
SLACK = {
    "proxy_rss_kib": (0.20, 8192),
    "proxy_fds": (0.0, 16),
    "proxy_threads": (0.0, 2),
    "proxy_tasks": (0.0, 32),
    "system_rss_kib": (0.20, 16384),
    "system_fds": (0.0, 24),
    "system_threads": (0.0, 4),
}


@dataclass(frozen=True)
class Sample:
    t: float
    proxy_rss_kib: int
    proxy_fds: int
    proxy_threads: int
    proxy_tasks: int
    proxy_connections: int
    system_rss_kib: int
    system_fds: int
    system_threads: int
    faults: int


def _gauge(metrics: str, name: str) -> int:
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def _usage(pids: list[int]) -> tuple[int, int, int]:
    rss = fds = threads = 0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(pid)
            rss += proc.memory_info().rss // 1024
            fds += proc.num_fds()
            threads += proc.num_threads()
    return rss, fds, threads


def sample(started: float, proxy_pid: int, proxy_url: str, system_pids: list[int], faults: int):
    metrics = requests.get(f"{proxy_url}/metrics", timeout=10).text
    p_rss, p_fds, p_threads = _usage([proxy_pid])
    s_rss, s_fds, s_threads = _usage(system_pids)
    return Sample(
        round(time.monotonic() - started, 1),
        p_rss, p_fds, p_threads,
        _gauge(metrics, "chaoslib_asyncio_tasks"),
        _gauge(metrics, "chaoslib_proxy_connections"),
        s_rss, s_fds, s_threads, faults,
    )  # fmt: skip


def progress(s: Sample, duration: float) -> None:
    print(f"  {s.t:7.0f}/{duration:.0f}s  proxy {s.proxy_rss_kib} KiB, {s.proxy_fds} fds, "
          f"{s.proxy_tasks} tasks; system {s.system_rss_kib} KiB, {s.system_fds} fds; "
          f"{s.faults} faults", file=sys.stderr, flush=True)  # fmt: skip


def random_fault(rng: random.Random, link: Link):
    kind = rng.choice(["down", "latency", "bandwidth", "reset_peer", "slicer"])
    if kind == "down":
        return link.down()
    if kind == "latency":
        return link.latency(rng.randint(20, 300), rng.randint(0, 20), direction="both")
    if kind == "bandwidth":
        return link.bandwidth(rng.randint(5, 100), direction="both")
    if kind == "reset_peer":
        return link.reset_peer(0, toxicity=rng.choice([0.1, 0.5]))
    return link.slicer(rng.randint(64, 2048), 32, rng.randint(0, 500))


def growth(first: Sample, last: Sample) -> list[tuple[str, int, int, int, bool]]:
    rows = []
    for key, (relative, floor) in SLACK.items():
        before, after = getattr(first, key), getattr(last, key)
        allowed = max(int(before * relative), floor)
        rows.append((key, before, after, allowed, after - before <= allowed))
    return rows


def print_samples(samples: list[Sample], markdown: bool) -> None:
    header = ["t (s)", "proxy RSS KiB", "fds", "threads", "tasks", "conns",
              "system RSS KiB", "fds", "threads", "faults"]  # fmt: skip
    rows = [
        [f"{s.t:g}", s.proxy_rss_kib, s.proxy_fds, s.proxy_threads, s.proxy_tasks,
         s.proxy_connections, s.system_rss_kib, s.system_fds, s.system_threads, s.faults]
        for s in samples
    ]  # fmt: skip
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(str(v) for v in row) + " |")
    else:
        print("  ".join(f"{h:>14}" for h in header))
        for row in rows:
            print("  ".join(f"{v!s:>14}" for v in row), flush=True)


def run(args: argparse.Namespace) -> int:
    """The soak in a temporary home that is removed however the run ends (SIGTERM too:
    main turns it into SystemExit, so every ``finally`` runs)."""
    home = Path(tempfile.mkdtemp(prefix="chaoslib-soak-"))
    print(f"soak: temporary home {home} (removed at exit)", flush=True)
    try:
        return soak(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def soak(args: argparse.Namespace, home: Path) -> int:
    rng = random.Random(args.seed)
    stack = Stack(StackConfig(home=home, redis_persistence=True, owned=True))
    ledger = Ledger(home)
    history = History()
    stopping = []
    try:
        stack.start()
        stopping.append(stack.stop)
        system = LocalSystem(load_profile("local"), "fast", stack, home / "system", ledger=ledger)
        stopping.append(system.stop_all)
        system.start_all()
        urls = {name: info["url"] for name, info in stack.link_urls().items()}
        workloads = [
            StreamWorkload(urls["redis"], history=history, name="redis-stream", interval=0.01),
            PostgresWorkload(urls["timescaledb"], history=history, name="pg-writes", interval=0.01),
        ]
        for workload in workloads:
            workload.start()
        links = [Link(name, system.toxiproxy, ledger=ledger) for name in system.link_urls]
        links += [Link(name, system.toxiproxy, ledger=ledger) for name in urls]
        proxy_pid = stack.services["toxiproxy"].pid
        system_pids = [svc.pid for svc in system.services.values() if svc.pid]
        duration = args.minutes * 60
        every = duration / args.samples
        started = time.monotonic()
        samples = [sample(started, proxy_pid, stack.proxy_url, system_pids, 0)]
        print(f"soak: {args.minutes:g} min, seed {args.seed}, {len(links)} links, "
              f"{len(system_pids)} system processes; sampling every {every:.0f}s", flush=True)  # fmt: skip
        faults, next_sample = 0, started + every
        while time.monotonic() - started < duration:
            fault = random_fault(rng, rng.choice(links))
            with fault:
                faults += 1
                time.sleep(rng.uniform(0.2, 2.0))  # the fault's hold: load shape, not a sync
            time.sleep(rng.uniform(0.2, 2.0))
            if time.monotonic() >= next_sample:
                samples.append(sample(started, proxy_pid, stack.proxy_url, system_pids, faults))
                next_sample += every
                progress(samples[-1], duration)
        for workload in workloads:
            workload.drain()
        samples.append(sample(started, proxy_pid, stack.proxy_url, system_pids, faults))
        left = {
            "toxics": sum(len(p.toxics) for p in system.toxiproxy.proxies().values()),
            "disabled": sum(1 for p in system.toxiproxy.proxies().values() if not p.enabled),
            "ledger": len(ledger.entries()),
        }
    finally:
        for stop in reversed(stopping):
            with contextlib.suppress(Exception):
                stop()
    return report(samples, [w.result() for w in workloads], left, args)


def report(samples: list[Sample], results, left: dict[str, int], args) -> int:
    print_samples(samples, args.markdown)
    warm = next(s for s in samples if s.t >= samples[-1].t / 5)
    ok = True
    print(f"\ngrowth from t={warm.t:g}s (after warm-up) to t={samples[-1].t:g}s:")
    for key, before, after, allowed, fine in growth(warm, samples[-1]):
        ok &= fine
        print(f"  {key:16} {before:>9} -> {after:>9}  (+{after - before}, "
              f"slack {allowed})  {'ok' if fine else 'GREW'}")  # fmt: skip
    print("\nloss checker:")
    for result in results:
        verdict = no_loss(result)
        ok &= verdict.status == "pass"
        print(f"  {result.name}: {verdict.status}: {verdict.evidence}")
    print(f"\nleft at the end: {left}")
    ok &= not any(left.values())
    print(f"\nsoak {'passed' if ok else 'FAILED'}: {samples[-1].faults} faults in "
          f"{samples[-1].t / 60:.1f} min")  # fmt: skip
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="how long (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault sequence")
    parser.add_argument("--samples", type=int, default=12, help="resource samples (default 12)")
    parser.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    args = parser.parse_args()
    if args.minutes <= 0 or args.samples < 2:
        parser.error("--minutes must be > 0 and --samples >= 2")
    configure_logging(0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
