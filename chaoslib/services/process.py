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
# psutil's start time is the boot time (whole seconds, re-read by each process, and moved
# by a clock step) plus clock ticks: reads from two processes can differ by a second. A
# pid reused within that window, by the same program, leading its own group, is not a
# case worth a false "not ours" that would leave a server running.
CREATE_TIME_TOLERANCE = 1.5


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
        # Set once this object has seen the group's leader as its own: only then may the
        # group's leftovers be reaped after the leader is gone.
        self._leader_seen = False

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
        self._leader_seen = True
        return self.handle

    def _process(self) -> psutil.Process | None:
        if self.handle is None:
            return None
        if self._popen is not None and self._popen.poll() is not None:
            return None  # reaped: the pid may already belong to someone else
        try:
            proc = psutil.Process(self.handle.pid)
            if not self._is_ours(proc) or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.Error, OSError):
            return None

    def _is_ours(self, proc: psutil.Process) -> bool:
        """The process this handle names, exactly: same pid, same start time (a handle
        without one, read from a damaged state file, matches nothing), the program
        the spec ran, and still the leader of its own process group."""
        handle = self.handle
        if self._popen is not None:
            return True  # our own child, not yet reaped: nobody else can hold its pid
        if not _same_start(proc, handle):
            return False
        if os.getpgid(proc.pid) != proc.pid:
            return False  # signals go to the group: it must be the one this process leads
        return _same_program(proc, self.spec.argv[0])

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
        """Send ``sig`` to the whole process group; False if it was gone (or never ours)."""
        if self._process() is None:
            return False
        try:
            os.killpg(self.handle.pid, sig)  # type: ignore[union-attr]
        except ProcessLookupError:
            return False
        self._leader_seen = True
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
        # Children of a killed leader (PostgreSQL backends) can linger briefly; nothing in
        # the group may outlive a stop. The group is only ours if its leader was: a pid
        # from a damaged state file must not take an unrelated process group with it.
        if self.handle is None or not (self._leader_seen or self._orphans_are_ours()):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.handle.pid, signal.SIGKILL)

    def _orphans_are_ours(self) -> bool:
        """The leader died before this object saw it (stack.down after a crash). The kernel
        keeps a group's id from reuse while members hold it, so members whose group is the
        handle's pid, and which started after the leader, are the leader's children."""
        handle = self.handle
        if handle is None or not handle.create_time or handle.create_time <= 0:
            return False
        try:  # a zombie leader nobody reaped (a container without init) is still ours
            leader = psutil.Process(handle.pid)
            return leader.status() == psutil.STATUS_ZOMBIE and _same_start(leader, handle)
        except psutil.NoSuchProcess:
            pass
        except psutil.Error:
            return False
        members = []
        for proc in psutil.process_iter(["create_time"]):
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(proc.pid) == handle.pid:
                    members.append(proc.info["create_time"])
        return bool(members) and all(
            t >= handle.create_time - CREATE_TIME_TOLERANCE for t in members
        )


def _same_start(proc: psutil.Process, handle: ProcessHandle | None) -> bool:
    """A start time was recorded (a handle without one, from a damaged state file, matches
    nothing) and it is this process's."""
    if handle is None or not handle.create_time or handle.create_time <= 0:
        return False
    return abs(proc.create_time() - handle.create_time) <= CREATE_TIME_TOLERANCE


def _same_program(proc: psutil.Process, program: str) -> bool:
    """``program`` (the spec's argv[0]) is what ``proc`` runs. Servers may retitle their
    argv (redis-server shows "redis-server 127.0.0.1:6379"), so the first word counts."""
    want = os.path.basename(program)
    try:
        cmdline = proc.cmdline()
        name = proc.name()
    except psutil.Error:
        return False
    first = cmdline[0].split()[0] if cmdline and cmdline[0].split() else ""
    return os.path.basename(first) == want or (bool(name) and name == want[:15])
