"""How exact the timing toxics are, measured through the real proxy process.

    python benchmarks/toxic_accuracy.py [--pings 300] [--runs 3]

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
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy import percentile, start_proxy_server  # noqa: E402

from chaoslib.services.managed import pick_free_port  # noqa: E402
from chaoslib.toxiproxy import Toxiproxy  # noqa: E402

RATES_KBPS = (10, 100, 1_000, 10_000, 100_000)


class Echo:
    """A threaded TCP echo as the upstream (the proxy is what is measured)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(1 << 20):
                    conn.sendall(data)
            except OSError:
                pass


def round_trip(sock: socket.socket) -> float:
    start = time.perf_counter()
    sock.sendall(b"x")
    sock.recv(1)
    return time.perf_counter() - start


def latency_run(api: Toxiproxy, plain: int, toxic: int, pings: int) -> tuple[float, float]:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    echo = Echo()
    port = pick_free_port()
    proc = start_proxy_server([sys.executable, "-m", "chaoslib.proxy", "-port", str(port)], port)
    try:
        api = Toxiproxy(f"http://127.0.0.1:{port}")
        plain = api.create_proxy("plain", upstream=f"127.0.0.1:{echo.port}").listen_port
        slow = api.create_proxy("slow", upstream=f"127.0.0.1:{echo.port}").listen_port
        api.add_toxic("slow", "latency", attributes={"latency": 100})
        p50s, p99s = [], []
        for _ in range(args.runs):
            p50, p99 = latency_run(api, plain, slow, args.pings)
            p50s.append(p50)
            p99s.append(p99)
        print(f"latency 100 ms, {args.pings} round trips x {args.runs} runs (added minus 100 ms)")
        print(
            f"  p50 {statistics.median(p50s):+.3f} ms (spread {min(p50s):+.3f}..{max(p50s):+.3f}; "
            f"goal <= 1 ms)   p99 {statistics.median(p99s):+.3f} ms "
            f"(spread {min(p99s):+.3f}..{max(p99s):+.3f}; goal <= 3 ms)"
        )
        api.remove_toxic("slow", "latency_downstream")
        print("bandwidth, measured / configured (goal within 2 %)")
        for rate in RATES_KBPS:
            api.add_toxic("slow", "bandwidth", name="bw", attributes={"rate": rate})
            ratios = [bandwidth_run(slow, rate) for _ in range(args.runs)]
            api.remove_toxic("slow", "bw")
            print(
                f"  {rate:>7,} KB/s  {statistics.median(ratios):.3f} "
                f"(spread {min(ratios):.3f}-{max(ratios):.3f})"
            )
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
