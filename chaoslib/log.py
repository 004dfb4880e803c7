"""Logging: one loguru sink, configured once, switched by ``-v`` or ``CHAOS_LOG_LEVEL``."""

from __future__ import annotations

import os
import sys

from loguru import logger

LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
DEFAULT_LEVEL = "WARNING"
_configured_level: str | None = None


def resolve_level(verbose: int = 0, env: dict[str, str] | None = None) -> str:
    """``-v`` means INFO, ``-vv`` DEBUG; otherwise ``CHAOS_LOG_LEVEL`` or WARNING."""
    if verbose >= 2:
        return "DEBUG"
    if verbose == 1:
        return "INFO"
    level = (env if env is not None else os.environ).get("CHAOS_LOG_LEVEL", DEFAULT_LEVEL)
    level = level.strip().upper()
    if level not in LEVELS:
        from chaoslib.errors import ConfigError

        raise ConfigError(
            f"CHAOS_LOG_LEVEL={level!r} is not a level; use one of {', '.join(LEVELS)}"
        )
    return level


def configure_logging(verbose: int = 0) -> str:
    """Install the single stderr sink. Calling it again only changes the level."""
    global _configured_level
    level = resolve_level(verbose)
    if level == _configured_level:
        return level
    logger.enable("chaoslib")
    logger.remove()
    logger.add(
        sys.stderr,
        level=level,
        format="<dim>{time:HH:mm:ss.SSS}</dim> <level>{level: <7}</level> {message}",
        backtrace=False,
        diagnose=False,
    )
    _configured_level = level
    return level
