"""One log line per event on stdout (loguru), so the guide's greps find them in `docker logs`."""

from __future__ import annotations

import sys

from loguru import logger


def setup(service: str) -> None:
    logger.enable("chaoslib.examples.arbees")  # chaoslib disables its own loggers at import
    logger.remove()
    logger.add(
        sys.stdout,
        level="INFO",
        format="{time:YYYY-MM-DDTHH:mm:ss.SSSZ} {level: <7} " + service + " {message}",
        backtrace=False,
        diagnose=False,
    )
