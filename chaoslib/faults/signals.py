"""Signals end a run the way an exception does, so every ``finally`` heals its faults.

SIGINT already raises KeyboardInterrupt. SIGTERM and SIGHUP are made to raise
:class:`Terminated`; a second signal that arrives while faults are healing is
held back until the heal is done, so a double Ctrl-C cannot leave a fault.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

HEAL_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived; a BaseException so that ``except Exception`` does not eat it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def heal_on_signals() -> Iterator[None]:
    """Within this block SIGTERM/SIGHUP raise :class:`Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, _raise_terminated) for sig in (signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM/SIGHUP until the block ends (used around healing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HEAL_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
