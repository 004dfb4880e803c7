"""Small helpers for tests: observing processes and sockets from the outside."""

from __future__ import annotations

import os
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def connection_refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CHAOS_HOME"] = str(home)
    env.update(extra)
    return env


def run_invoke(home: Path, *args: str, timeout: float = 120, **env: str):
    """``invoke ARGS`` as a user runs it: from the checkout, with its own CHAOS_HOME."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO,
        env=subprocess_env(home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn_python(home: Path, *args: str):
    """A Python child (``-c CODE`` or ``-m MODULE``) with piped output and its own CHAOS_HOME."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=subprocess_env(home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Said:
    """A child's stdout read line by line on a thread, so a test can wait on what it said
    (``communicate`` gives it only at the end)."""

    def __init__(self, proc) -> None:
        import threading

        self.proc, self.lines = proc, []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def __call__(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def finish(self, timeout: float = 60) -> tuple[str, str]:
        """Wait for the child to exit; all it said, on stdout and stderr."""
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return "".join(self.lines), self.proc.stderr.read()
