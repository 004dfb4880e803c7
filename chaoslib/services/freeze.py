"""Pausing a local server as ``docker pause`` does: every process of it frozen, not only
the one it was started as.

A signal to the server's process group reaches only the processes in that group. A
server whose children call ``setsid()`` (PostgreSQL's backends and auxiliary processes
each lead a session of their own) keeps answering on every open connection while its
first process is stopped. So each process under it is signalled by pid.
"""

from __future__ import annotations

import signal

import psutil

from chaoslib.wait import wait_until

FREEZE_TIMEOUT = 5.0  # a SIGSTOP takes effect at once; this bounds a loaded machine


def descendants(pid: int | None) -> list[psutil.Process]:
    """Every process under ``pid`` (none if it is gone or cannot be read)."""
    if pid is None:
        return []
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def signal_descendants(pid: int | None, sig: int) -> list[psutil.Process]:
    """``sig`` sent to every process under ``pid``: the ones it reached."""
    reached = []
    for child in descendants(pid):
        try:
            child.send_signal(sig)
            reached.append(child)
        except psutil.Error:  # exited meanwhile: nothing left to freeze or thaw
            continue
    return reached


def stopped_or_gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True


class FreezesProcessTree:
    """For a :class:`~chaoslib.services.managed.ManagedServer` (listed before it in the
    bases): pause freezes the whole process tree, resume thaws all of it, and a stop or
    kill thaws it first.

    Its ``is_paused`` stays the server's own (its first process stopped), so a resume cut
    short between the children and that process is still seen as paused, and finished
    by a reset."""

    name: str
    pid: int | None

    def pause(self) -> None:
        """SIGSTOP to the server's process first (so it starts no new child), then to every
        process under it; returns once all of them are stopped."""
        super().pause()  # type: ignore[misc]
        frozen = signal_descendants(self.pid, signal.SIGSTOP)
        wait_until(
            lambda: all(stopped_or_gone(p) for p in frozen),
            timeout=FREEZE_TIMEOUT,
            what=f"every process of {self.name} to stop running",
        )

    def resume(self) -> None:
        """SIGCONT to every process under the server, then to the server's own."""
        signal_descendants(self.pid, signal.SIGCONT)
        super().resume()  # type: ignore[misc]

    def stop(self, timeout: float = 10.0) -> None:
        # A frozen child would not act on the server's shutdown request.
        signal_descendants(self.pid, signal.SIGCONT)
        super().stop(timeout)  # type: ignore[misc]

    def kill(self) -> None:
        # Children outlive a killed parent until they notice it is gone; a frozen one never
        # would, and would keep the port (and PostgreSQL's shared memory) from a restart.
        signal_descendants(self.pid, signal.SIGCONT)
        super().kill()  # type: ignore[misc]
