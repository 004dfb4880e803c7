"""A local OS process that chaoslib starts and controls by signal.

The process is described by a serializable :class:`ProcessSpec`, so that a
second chaoslib process (``invoke stack.down`` after a crash) can find it again
from the state file and stop, pause or restart it. Each process leads its own
process group, so signals reach its children too (PostgreSQL backends).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from chaoslib.wait import WaitTimeout, wait_until

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    """Everything needed to (re)start a process; stored in the stack state file."""

    argv: tuple[str, ...]
    log_path: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM


@dataclass(frozen=True)
class ProcessHandle:
    """A started process: its pid and start time, which together survive pid reuse."""

    pid: int
    create_time: float


def _clear_signal_mask() -> None:
    # A child inherits blocked signals; one started while faults heal (with
    # SIGTERM held back) would otherwise ignore every graceful stop.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _die_with_parent() -> None:
    _clear_signal_mask()
    # Owned processes must not outlive the Python process that started them;
    # this runs in the child after setuid, which would otherwise clear it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class LocalProcess:
    """Start, signal and reap one process group described by a :class:`ProcessSpec`."""

    def __init__(self, spec: ProcessSpec, handle: ProcessHandle | None = None) -> None:
        self.spec = spec
        self.handle = handle
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.handle.pid if self.handle else None

    def start(self, *, owned: bool) -> ProcessHandle:
        """Launch the process. ``owned`` processes get SIGKILL when this process dies."""
        Path(self.spec.log_path).parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.spec.env}
        with open(self.spec.log_path, "ab") as log:
            self._popen = subprocess.Popen(
                list(self.spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.spec.cwd,
                env=env,
                user=self.spec.user,
                start_new_session=True,
                preexec_fn=_die_with_parent if owned else _clear_signal_mask,
            )
        try:
            create_time = psutil.Process(self._popen.pid).create_time()
        except psutil.NoSuchProcess:
            create_time = 0.0
        self.handle = ProcessHandle(self._popen.pid, create_time)
        return self.handle

    def _process(self) -> psutil.Process | None:
        if self.handle is None:
            return None
        if self._popen is not None and self._popen.poll() is not None:
            return None  # reaped: the pid may already belong to someone else
        try:
            proc = psutil.Process(self.handle.pid)
            if self.handle.create_time and abs(proc.create_time() - self.handle.create_time) > 0.5:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def is_running(self) -> bool:
        return self._process() is not None

    def is_paused(self) -> bool:
        proc = self._process()
        try:
            return proc is not None and proc.status() == psutil.STATUS_STOPPED
        except psutil.Error:
            return False

    def exit_code(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the whole process group; False if it was already gone."""
        if self._process() is None:
            return False
        try:
            os.killpg(self.handle.pid, sig)  # type: ignore[union-attr]
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop with the spec's signal; SIGKILL if it outlasts ``timeout``. Idempotent."""
        if not self.signal_group(self.spec.stop_signal):
            self._reap_group()
            return
        # A paused process cannot act on the stop signal until it runs again.
        self.signal_group(signal.SIGCONT)
        try:
            self.wait_gone(timeout)
        except WaitTimeout:
            self.kill()
        self._reap_group()

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the process group and wait until it is gone. Idempotent."""
        self.signal_group(signal.SIGKILL)
        self.wait_gone(timeout)
        self._reap_group()

    def wait_gone(self, timeout: float) -> None:
        if self._popen is not None:
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired as exc:
                raise WaitTimeout(f"pid {self.pid} still running after {timeout:g}s") from exc
            return
        wait_until(lambda: not self.is_running(), timeout=timeout, what=f"pid {self.pid} to exit")

    def _reap_group(self) -> None:
        # Children of a killed leader (PostgreSQL backends) can linger briefly;
        # nothing in the group may outlive a stop.
        if self.handle is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.handle.pid, signal.SIGKILL)
