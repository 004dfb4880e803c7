"""Signals end a run the way an exception does, so every ``finally`` heals its faults.

Inside :func:`heal_on_signals` the first SIGINT raises KeyboardInterrupt and the
first SIGTERM or SIGHUP raises :class:`Terminated`. Any further signal is
swallowed until the outermost block ends: the run is already stopping, and a
second Ctrl-C arriving between two heals must not cut the healing short.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

HEAL_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived; a BaseException so that ``except Exception`` does not eat it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


class _Stopping:
    """Whether a heal signal already arrived in the outermost block, and how deep we are."""

    depth = 0
    fired = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _Stopping.fired:
        # Not a logger: the main thread may be inside a log call holding its lock.
        os.write(
            2, f"{signal.Signals(signum).name}: still healing faults, then stopping\n".encode()
        )
        return
    if in_finalizer(frame):
        # Raised in a __del__ or a weakref callback, the exception would be printed as
        # "Exception ignored in" and dropped, and the Ctrl-C with it: the run would hold
        # on. Ask again in a moment, when the finalizer has returned.
        # To the main thread itself: a wait it is blocked in must wake (EINTR) to see it.
        main = threading.main_thread().ident
        threading.Timer(RETRY_AFTER, signal.pthread_kill, (main, signum)).start()
        return
    _Stopping.fired = True
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


RETRY_AFTER = 0.01  # s; a finalizer (a connection pool closing its sockets) takes less


def in_finalizer(frame: FrameType | None) -> bool:
    """Whether the interrupted code runs inside a finalizer, where exceptions are dropped."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or (
            code.co_name == "__call__" and code.co_filename.endswith("weakref.py")
        ):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def heal_on_signals() -> Iterator[None]:
    """Within this block the first heal signal raises and later ones wait (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    if _Stopping.depth == 0:
        _Stopping.fired = False
        previous = {sig: signal.signal(sig, _on_signal) for sig in HEAL_SIGNALS}
    _Stopping.depth += 1
    try:
        yield
    finally:
        _Stopping.depth -= 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM/SIGHUP until the block ends (around recording and healing).

    Not a signal mask: a process-directed signal that the main thread blocks goes to
    any other thread (a workload's, a progress bar's, an in-process proxy's), and Python
    still runs its handler in the main thread at once. A handler that only notes the
    signal holds it wherever it lands; the block's end raises it again.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: pending.append(signum)) for sig in HEAL_SIGNALS
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            # None: a handler not set from Python; the default is the closest we can restore.
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for sig in dict.fromkeys(pending):
            signal.raise_signal(sig)
