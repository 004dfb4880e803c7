"""A Ctrl-C must end the run wherever it lands, even in a finalizer that drops exceptions."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from chaoslib.faults.signals import Terminated, heal_on_signals, in_finalizer


class _SignalledWhileCollected:
    """Its __del__ is where the signal lands, as a redis ConnectionPool's did in CI."""

    def __init__(self, signum: int) -> None:
        self.signum = signum

    def __del__(self) -> None:
        signal.raise_signal(self.signum)
        sum(range(1000))  # the handler runs here, inside __del__


@pytest.mark.parametrize(
    ("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)]
)
def test_a_signal_that_lands_in_a_finalizer_still_ends_the_block(signum, raised):
    began = time.monotonic()
    with heal_on_signals(), pytest.raises(raised):
        _SignalledWhileCollected(signum)  # dropped at once: __del__ runs on this line
        threading.Event().wait(30)  # a hold; without the retry it runs to its end
    assert time.monotonic() - began < 10  # it woke the hold, not waited it out


def test_a_finalizer_is_told_from_ordinary_code():
    seen = {}

    class Probe:
        def __del__(self) -> None:
            import sys

            seen["del"] = in_finalizer(sys._getframe())

    Probe()
    import sys

    assert seen == {"del": True} and not in_finalizer(sys._getframe())
