"""How exact the timing toxics are, measured through the real proxy process.

    python benchmarks/toxic_accuracy.py [--latency-pings 300] [--runs 3]

- latency 100 ms: sequential round trips through the proxy with the toxic,
  minus the same round trips without it (one run, interleaved per sample);
  goal p50 within 1 ms of 100 ms, p99 within 3 ms.
- bandwidth from 10 KB/s to 100 MB/s: bytes read back through an echo over a
  timed window, divided by the configured rate; goal within 2 %.

Each figure is the median of ``--runs`` with the spread shown.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
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

RATES_KBPS = (10, 100, 1_000, 10_000, 100_000)


def round_trip(sock: socket.socket) -> float:
    start = time.perf_counter()
    sock.sendall(b"x")
    sock.recv(1)
    return time.perf_counter() - start


def latency_run(plain: int, toxic: int, pings: int) -> tuple[float, float]:
    with (
        socket.create_connection(("127.0.0.1", plain)) as a,
        socket.create_connection(("127.0.0.1", toxic)) as b,
    ):
        for s in (a, b):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        base, slow = [], []
        for _ in range(pings):
            base.append(round_trip(a))
            slow.append(round_trip(b))
    added = sorted(s - b for s, b in zip(slow, base, strict=True))
    return (percentile(added, 0.5) - 0.1) * 1000, (percentile(added, 0.99) - 0.1) * 1000


def bandwidth_run(port: int, rate_kbps: int) -> float:
    """Measured ÷ configured rate over a window of about 2 s after a warm-up."""
    seconds = 2.0
    total = int(rate_kbps * 1000 * (seconds + 0.5))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sender = threading.Thread(target=sock.sendall, args=(b"x" * total,), daemon=True)
        sender.start()
        received, marks = 0, []
        while received < total:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
            marks.append((time.perf_counter(), received))
    # Skip the first half second: it includes the connection and the first pacing slice.
    start = next(m for m in marks if m[1] >= rate_kbps * 500)
    end = marks[-1]
    return (end[1] - start[1]) / (end[0] - start[0]) / (rate_kbps * 1000)


def _rate_text(kbps: int) -> str:
    return f"{kbps // 1000:,} MB/s" if kbps >= 1000 else f"{kbps} KB/s"


def measure(servers: list[ProxyUnderTest], args: argparse.Namespace) -> list[Figure]:
    echo = EchoProcess()
    figures = []
    try:
        for server in servers:
            plain = fresh_proxy(server, "plain", echo.port).listen_port
            slow = fresh_proxy(server, "slow", echo.port).listen_port
            server.api.add_toxic("slow", "latency", name="lat", attributes={"latency": 100})
            runs = [latency_run(plain, slow, args.latency_pings) for _ in range(args.runs)]
            server.api.remove_toxic("slow", "lat")
            for n, (label, goal) in enumerate((("p50", 1.0), ("p99", 3.0))):
                figures.append(
                    Figure(
                        f"latency toxic 100 ms: {label} - 100 ms",
                        server.target,
                        tuple(r[n] for r in runs),
                        Goal("at_most", goal),
                        "ms",
                        "+.3f",
                    )
                )
            for rate in RATES_KBPS:
                server.api.add_toxic("slow", "bandwidth", name="bw", attributes={"rate": rate})
                ratios = tuple(bandwidth_run(slow, rate) for _ in range(args.runs))
                server.api.remove_toxic("slow", "bw")
                figures.append(
                    Figure(
                        f"bandwidth {_rate_text(rate)}: measured ÷ configured",
                        server.target,
                        ratios,
                        Goal("within", 0.98, 1.02),
                        fmt=".3f",
                    )
                )
    finally:
        echo.close()
    return figures


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--latency-pings", type=int, default=300)


if __name__ == "__main__":
    sys.exit(script_main(__doc__, measure, add_args))
