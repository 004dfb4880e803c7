"""When a started process service counts as ready: a log line, a TCP port that accepts,
a heartbeat, or nothing but being alive.

A :class:`ReadyDef` is plain data (profiles build it); :func:`probe` turns it into a
condition to poll. The process's own liveness is checked by the caller on every poll,
so that a child that dies is reported as dead, not as "not ready yet".
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaoslib.errors import ConfigError

DEFAULT_TIMEOUT = 15.0
MAX_TIMEOUT = 600.0
KINDS = ("log", "tcp", "heartbeat", "none")
# One connect attempt must not eat the whole poll budget when a SYN goes unanswered.
CONNECT_TIMEOUT = 0.5


@dataclass(frozen=True)
class ReadyDef:
    """``kind`` is one of :data:`KINDS`; ``pattern`` is the log regex (``^``/``$`` per
    line), ``host``/``port`` the TCP address; ``timeout`` bounds the wait, in seconds."""

    kind: str = "none"
    pattern: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    timeout: float = DEFAULT_TIMEOUT

    def describe(self) -> str:
        """What the wait was for, as a phrase that follows "waited for"."""
        if self.kind == "log":
            return f"a log line matching /{self.pattern}/"
        if self.kind == "tcp":
            return f"a TCP connection to {self.host}:{self.port} to succeed"
        if self.kind == "heartbeat":
            return "its heartbeat"
        return "nothing but the process staying alive"


def as_ready(value: str | ReadyDef | None, timeout: float | None = None) -> ReadyDef | None:
    """A ReadyDef from what callers pass: a string is a log regex (the original API)."""
    if value is None:
        return None
    ready = ReadyDef("log", pattern=value) if isinstance(value, str) else value
    if ready.kind not in KINDS:
        raise ConfigError(f"unknown readiness kind {ready.kind!r}; accepted: {', '.join(KINDS)}")
    if timeout is not None:
        return ReadyDef(ready.kind, ready.pattern, ready.host, ready.port, timeout)
    return ready


def address(value: object) -> tuple[str, int]:
    """``8080``, ``"8080"``, ``"host:8080"`` or ``"[::1]:8080"`` as (host, port); the host
    defaults to 127.0.0.1. A ValueError says what was wrong."""
    host, port = "127.0.0.1", value
    if isinstance(value, str):
        head, sep, tail = value.rpartition(":")
        host, port = (head.strip("[]") or host, tail) if sep else (host, value)
        port = int(port) if isinstance(port, str) and port.isdigit() else port
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{value!r} is not a port (1-65535) or host:port")
    return host, port


def tcp_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            return True
    except OSError:
        return False


def probe(
    ready: ReadyDef,
    log_path: str | Path,
    offset: int,
    heartbeat_seen: Callable[[], bool] | None,
) -> Callable[[], bool]:
    """A condition that is true once ``ready`` holds. ``offset`` is the log's size at
    start: lines an earlier run wrote must not count."""
    if ready.kind == "log":
        pattern = re.compile(ready.pattern, re.MULTILINE)

        def logged() -> bool:
            with open(log_path, "rb") as fh:
                fh.seek(offset)
                return bool(pattern.search(fh.read().decode("utf-8", "replace")))

        return logged
    if ready.kind == "tcp":
        return lambda: tcp_accepts(ready.host, ready.port)
    if ready.kind == "heartbeat":
        if heartbeat_seen is None:
            raise ConfigError(
                "ready: heartbeat needs a heartbeat_seen callable from the caller; none was given"
            )
        return heartbeat_seen
    return lambda: True
