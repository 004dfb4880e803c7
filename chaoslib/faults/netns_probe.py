"""One protocol-level request through a link, made on this host or inside a container.

This file is its own probe program. It imports only the standard library, so
``nsenter -t PID -n <this python> -I -S -c <this file> HOST PORT SCHEME TIMEOUT``
runs it in a container's network namespace with the host's Python: the
container needs no Python and no shell, and the proxy sees the connection come
from the container's own address, as it sees the container's real traffic.

A probe that could not be made (the source address is not this host's, the
namespace cannot be entered, no route) says why in ``error``. It is never "no
answer": a silent service reads as a cut, and a probe that was never sent
must not prove one.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

PROBE_TIMEOUT = 1.0
# Connect errors that say the probe never left, not that the service kept silent.
NOT_MADE = {errno.EADDRNOTAVAIL, errno.ENETUNREACH, errno.EACCES, errno.EPERM, errno.EINVAL,
            errno.EAFNOSUPPORT}  # fmt: skip


@dataclass(frozen=True)
class Answer:
    answered: bool
    seconds: float
    error: str = ""  # why the probe could not be made; then ``answered`` says nothing


def _exchange(sock: socket.socket, scheme: str) -> bool:
    if scheme.startswith("redis"):
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    # A PostgreSQL StartupMessage: any authentication request or error is an answer.
    body = struct.pack("!i", 196608) + b"user\0chaos_probe\0\0"
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    return sock.recv(1)[:1] in (b"R", b"E")


def probe(
    host: str, port: int, scheme: str, source: str = "", timeout: float = PROBE_TIMEOUT
) -> Answer:
    """PING (Redis) or a StartupMessage (PostgreSQL) to ``host:port``, from ``source`` if given.

    Raw sockets, because neither redis-py nor libpq can pick the source address."""
    start = time.monotonic()
    with socket.socket() as sock:
        sock.settimeout(timeout)
        if source:
            try:
                sock.bind((source, 0))
            except OSError as exc:
                return Answer(False, 0.0, f"cannot send from {source}: {exc.strerror or exc}")
        try:
            sock.connect((host, port))
            answered = _exchange(sock, scheme)
        except socket.gaierror as exc:
            return Answer(False, 0.0, f"cannot resolve {host}: {exc.strerror or exc}")
        except OSError as exc:
            if exc.errno in NOT_MADE:
                return Answer(False, 0.0, f"cannot reach {host}:{port}: {exc.strerror or exc}")
            answered = False  # refused, reset or timed out: the service did not answer
    return Answer(answered, time.monotonic() - start)


def probe_in_namespace(
    pid: int, host: str, port: int, scheme: str, timeout: float = PROBE_TIMEOUT
) -> Answer:
    """:func:`probe` from inside the network namespace of process ``pid`` (a container's)."""
    if os.geteuid() != 0:
        return Answer(False, 0.0, "probing from a container enters its network namespace "
                      "(nsenter): run as root")  # fmt: skip
    with open(__file__, encoding="utf-8") as fh:
        program = fh.read()
    # -I -S: the host's interpreter with nothing from the environment or site-packages.
    argv = ["nsenter", "-t", str(pid), "-n", sys.executable, "-I", "-S", "-c", program,
            host, str(port), scheme, str(timeout)]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Answer(False, 0.0, f"nsenter into pid {pid} failed: {exc}")
    lines = done.stdout.strip().splitlines()
    try:
        return Answer(**json.loads(lines[-1]))
    except (IndexError, ValueError, TypeError):
        said = (done.stderr or done.stdout).strip().splitlines()
        reason = said[-1] if said else f"exit status {done.returncode}"
        return Answer(False, 0.0, f"cannot enter the network namespace of pid {pid}: {reason}")


if __name__ == "__main__":  # run by probe_in_namespace, inside the namespace
    host_arg, port_arg, scheme_arg, timeout_arg = sys.argv[1:5]
    answer = probe(host_arg, int(port_arg), scheme_arg, timeout=float(timeout_arg))
    sys.stdout.write(json.dumps(asdict(answer)) + "\n")
