"""Waiting on a condition with a deadline: the only way chaoslib waits for anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from chaoslib.errors import ChaosError

T = TypeVar("T")


class WaitTimeout(ChaosError):
    """A condition did not become true before its deadline."""


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    Exceptions from ``condition`` propagate at once: a probe that knows the
    wait is hopeless (the process died) says so instead of burning the deadline.
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda value: not value),
        sleep=sleep,
    )
    try:
        return retrying(condition)
    except RetryError as exc:
        raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}") from exc
