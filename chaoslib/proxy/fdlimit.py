"""Open files: the process's limit, the connections it allows, and refusals at it.

Each proxied connection takes two file descriptors (the client's socket and the
upstream one). When the process runs out, accept() and connect() fail with
EMFILE: libuv (under uvloop) then accepts and closes the waiting connections
itself, so clients saw EOF or RST, nothing was logged and nothing counted, and
the API could not be reached either. So the proxy

- raises its soft ``RLIMIT_NOFILE`` to the hard limit when the CLI starts;
- keeps a process-wide budget of connections, below the limit by a headroom for
  listeners, API clients, logs and the event loop's own descriptors, and refuses
  a connection past it at once (an RST, counted in ``chaoslib_proxy_refused_total``
  and logged), before the process is out of descriptors, so accept() keeps working;
- derives the default ``-max-connections`` from that budget.

(Without uvloop, asyncio logs a failed accept() and retries it a second later.
Where there is no ``resource`` module, Windows, nothing here applies.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from chaoslib.proxy.views import ProxyView

try:
    import resource
except ImportError:  # Windows: no RLIMIT_NOFILE
    resource = None  # type: ignore[assignment]

FILES_PER_CONNECTION = 2
DEFAULT_MAX_CONNECTIONS = 10_000  # the cap when the open-files limit leaves room for it
LOG_EVERY = 5.0  # seconds between two refusal lines of one proxy and reason
_UNLIMITED = 1 << 30


def headroom(soft: int) -> int:
    """Descriptors kept back from connections: listeners (one per proxy), API, logs."""
    return max(32, soft // 16)


def connections_for(soft: int) -> int:
    """How many proxied connections fit in ``soft`` open files, headroom kept."""
    return max(1, (soft - headroom(soft)) // FILES_PER_CONNECTION)


@dataclass(frozen=True)
class FileLimit:
    """The open-files limit before and after :func:`raise_open_files_limit`."""

    soft_before: int
    hard: int  # RLIM_INFINITY reported as -1
    soft: int
    error: str | None = None  # why it could not be raised, if it could not

    @property
    def connections(self) -> int:
        return connections_for(self.soft)

    def describe(self) -> str:
        hard = "unlimited" if self.hard < 0 else str(self.hard)
        raised = (
            f"raised from {self.soft_before}"
            if self.soft != self.soft_before
            else ("not raised: " + self.error if self.error else "already the hard limit")
        )
        return (
            f"open files: {self.soft} (hard {hard}; {raised}); room for "
            f"{self.connections} proxied connections ({FILES_PER_CONNECTION} files each)"
        )


def _soft(value: int) -> int:
    return _UNLIMITED if resource is None or value == resource.RLIM_INFINITY else value


def open_files_limit() -> int:
    """The soft RLIMIT_NOFILE now (unlimited shown as 2**30)."""
    if resource is None:
        return _UNLIMITED
    return _soft(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def raise_open_files_limit() -> FileLimit:
    """Raise the soft RLIMIT_NOFILE to the hard one (an unprivileged call), and re-read it."""
    if resource is None:
        return FileLimit(_UNLIMITED, -1, _UNLIMITED)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    error = None
    if soft != resource.RLIM_INFINITY and soft != hard:
        # Some systems refuse their own hard limit (macOS above OPEN_MAX, an unlimited
        # hard one above Linux's nr_open): then try a million, then macOS's OPEN_MAX.
        finite = hard if hard != resource.RLIM_INFINITY else 1 << 20
        for target in dict.fromkeys((hard, min(finite, 1 << 20), min(finite, 10240))):
            if target != resource.RLIM_INFINITY and target <= soft:
                continue
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError) as exc:
                error = str(exc)
                continue
            error = None
            break
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    BUDGET.refresh()
    hard_out = -1 if hard == resource.RLIM_INFINITY else hard
    return FileLimit(_soft(soft), hard_out, _soft(now), error)


class Budget:
    """Proxied connections open in this process, against what its open-files limit allows.

    Process-wide, not per proxy or per server: the limit is the process's. Several
    in-process servers (on their own threads) share it, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0
        self.allowed = connections_for(open_files_limit())

    def refresh(self) -> None:
        self.allowed = connections_for(open_files_limit())

    def take(self) -> bool:
        with self._lock:
            if self.open >= self.allowed:
                self.refresh()  # (the host process may have raised its limit since)
            if self.open >= self.allowed:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


BUDGET = Budget()


class RefusalLog:
    """Refusals logged at most once per proxy and reason every ``LOG_EVERY`` seconds: the
    first at once, the ones after it counted into one line at the end of the window, so
    a flood shows in the log, whole, without flooding it."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._since: dict[tuple[str, str], int] = {}

    def refused(self, proxy: ProxyView, reason: str, why: Callable[[], str]) -> None:
        """Count one refusal; ``reason`` keys the rate limit, ``why()`` says it in words."""
        proxy.refused += 1
        key = (proxy.name, reason)
        now = time.monotonic()
        wait = self._last.get(key, -LOG_EVERY) + LOG_EVERY - now
        if wait <= 0:
            self._last[key] = now
            self._line(proxy, 1, why)
            return
        if key not in self._since:
            proxy.loop.call_later(wait, self._flush, proxy, key, why)
        self._since[key] = self._since.get(key, 0) + 1

    def _flush(self, proxy: ProxyView, key: tuple[str, str], why: Callable[[], str]) -> None:
        count = self._since.pop(key, 0)
        if count:
            self._last[key] = time.monotonic()
            self._line(proxy, count, why)

    @staticmethod
    def _line(proxy: ProxyView, count: int, why: Callable[[], str]) -> None:
        logger.warning(
            "proxy {}: refused {} connection{} (reset at once): {}; {} refused so far",
            proxy.name,
            count,
            "" if count == 1 else "s",
            why(),
            proxy.refused,
        )


REFUSALS = RefusalLog()


def out_of_budget() -> str:
    return (
        f"the open-files limit ({open_files_limit()}, RLIMIT_NOFILE) leaves room for {BUDGET.allowed} "
        "proxied connections in this process and that many are open; raise it (ulimit -n)"
    )


def out_of_files(what: str) -> Callable[[], str]:
    def why() -> str:
        return (
            f"{what} failed: the process has no file descriptor left (limit {open_files_limit()})"
        )

    return why
