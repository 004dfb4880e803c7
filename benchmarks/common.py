"""What every benchmark shares: figures and goals, the proxies under test, upstreams, the table.

A benchmark script exposes ``measure(servers, args) -> list[Figure]``; its
``main`` and ``run_all.py`` both print the result with :func:`print_table`.
``servers`` always holds chaoslib's proxy process and, with ``TOXIPROXY_BIN``
set, a real toxiproxy-server started the same way, so every proxy figure is
measured for both in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaoslib.services.managed import pick_free_port  # noqa: E402
from chaoslib.toxiproxy.client import Proxy, Toxiproxy  # noqa: E402
from chaoslib.wait import wait_until  # noqa: E402


@dataclass(frozen=True)
class Goal:
    """``at_least``, ``at_most`` or ``within`` (low, high)."""

    kind: str
    low: float
    high: float = 0.0

    def met(self, value: float) -> bool:
        if self.kind == "at_least":
            return value >= self.low
        if self.kind == "at_most":
            return value <= self.low
        return self.low <= value <= self.high

    def text(self, fmt: str) -> str:
        if self.kind == "at_least":
            return f">= {self.low:{fmt}}"
        if self.kind == "at_most":
            return f"<= {self.low:{fmt}}"
        return f"{self.low:{fmt}}-{self.high:{fmt}}"


@dataclass(frozen=True)
class Figure:
    """One measured figure for one target: every run kept, the median reported."""

    name: str
    target: str  # "chaoslib" or "toxiproxy"
    runs: tuple[float, ...]
    goal: Goal | None
    unit: str = ""
    fmt: str = ".2f"

    @property
    def value(self) -> float:
        return statistics.median(self.runs)

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value)

    def show(self, value: float) -> str:
        return f"{value:{self.fmt}}{(' ' + self.unit) if self.unit else ''}"


@dataclass(frozen=True)
class ProxyUnderTest:
    target: str
    api: Toxiproxy
    pid: int


def start_proxy_server(argv: list[str], api_port: int) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(
        Toxiproxy(f"http://127.0.0.1:{api_port}", timeout=1).is_running,
        timeout=15,
        what="proxy API",
    )
    return proc


@contextlib.contextmanager
def proxy_servers(*, chaoslib_args: tuple[str, ...] = ()) -> Iterator[list[ProxyUnderTest]]:
    """chaoslib's proxy process, and toxiproxy-server when ``TOXIPROXY_BIN`` names one."""
    argvs = {"chaoslib": [sys.executable, "-m", "chaoslib.proxy", *chaoslib_args]}
    if os.environ.get("TOXIPROXY_BIN"):
        argvs["toxiproxy"] = [os.environ["TOXIPROXY_BIN"]]
    procs: list[subprocess.Popen] = []
    servers = []
    try:
        for target, argv in argvs.items():
            port = pick_free_port()
            proc = start_proxy_server([*argv, "-port", str(port)], port)
            procs.append(proc)
            api = Toxiproxy(f"http://127.0.0.1:{port}", timeout=30)
            servers.append(ProxyUnderTest(target, api, proc.pid))
        yield servers
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def bare_forwarders(upstream: int, modes: tuple[str, ...]) -> Iterator[dict[str, tuple[int, int]]]:
    """``bare_proxy.py`` in each mode in front of ``upstream``: {"bare <mode>": (port, pid)}."""
    procs, ports = [], {}
    try:
        for mode in modes:
            port = pick_free_port()
            script = str(Path(__file__).resolve().parent / "bare_proxy.py")
            proc = subprocess.Popen(
                [sys.executable, script, str(port), str(upstream), "--mode", mode],
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
            # A probe connection would reach the upstream too; the forwarder says when it listens.
            if proc.stdout.readline().strip() != "listening":  # type: ignore[union-attr]
                raise RuntimeError(f"the bare {mode} forwarder did not start")
            ports[f"bare {mode}"] = (port, procs[-1].pid)
        yield ports
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def fresh_proxy(server: ProxyUnderTest, name: str, upstream: int) -> Proxy:
    """Create (or recreate) proxy ``name`` on ``server``."""
    if name in server.api.proxies():
        server.api.delete_proxy(name)
    return server.api.create_proxy(name, upstream=f"127.0.0.1:{upstream}")


class Listener:
    """A loopback TCP server whose accept loop runs in a thread; ``accepted`` handles each."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=4096)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted(conn)

    def accepted(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class Echo(Listener):
    """A threaded TCP echo upstream: each connection gets a thread."""

    def accepted(self, conn: socket.socket) -> None:
        threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            try:
                while data := conn.recv(1 << 20):
                    conn.sendall(data)
            except OSError:
                pass


_ECHO_PROCESS = """
import asyncio, sys
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        self.transport.write(data)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


class EchoProcess:
    """A TCP echo upstream in a process of its own (asyncio, one thread).

    The threaded :class:`Echo` shares the GIL with the process that measures: a
    connection closing wakes its thread just as the client times the close, and
    that thread's turn at the GIL lands in the sample. Timings of a few tens of
    microseconds (fault activation, toxic accuracy) use this one instead.
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ECHO_PROCESS], stdout=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        if not line.isdigit():
            self.close()
            raise RuntimeError(f"the echo process did not start (said {line!r})")
        self.port = int(line)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def print_table(figures: list[Figure], *, markdown: bool = False) -> None:
    """Figure, target, median, spread, goal, met, and chaoslib ÷ Toxiproxy where both ran."""
    toxiproxy = {f.name: f for f in figures if f.target == "toxiproxy"}
    order = {name: n for n, name in reversed(list(enumerate(f.name for f in figures)))}
    rows = [("figure", "target", "median", "spread", "goal", "met", "chaoslib ÷ toxiproxy")]
    for f in sorted(figures, key=lambda f: order[f.name]):  # each figure's targets together
        other = toxiproxy.get(f.name) if f.target == "chaoslib" else None
        rows.append(
            (
                f.name,
                f.target,
                f.show(f.value),
                f"{min(f.runs):{f.fmt}} … {max(f.runs):{f.fmt}} (n={len(f.runs)})",
                f.goal.text(f.fmt) if f.goal else "",
                {True: "yes", False: "NO", None: ""}[f.met],
                f"{f.value / other.value:.2f}" if other and other.value else "",
            )
        )
    if markdown:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for row in rows[1:]:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def base_parser(doc: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    return parser


def script_main(
    doc: str,
    measure: Callable[[list[ProxyUnderTest], argparse.Namespace], list[Figure]],
    add_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    parser = base_parser(doc)
    if add_args:
        add_args(parser)
    args = parser.parse_args()
    print(f"machine: nproc {os.cpu_count()}, {cpu_model()}")
    with proxy_servers() as servers:
        figures = measure(servers, args)
    print_table(figures, markdown=args.markdown)
    return exit_code(figures)


def exit_code(figures: list[Figure]) -> int:
    """1 if a chaoslib figure misses its goal (references and Toxiproxy only inform)."""
    return 0 if all(f.met is not False for f in figures if f.target == "chaoslib") else 1
