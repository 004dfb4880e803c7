"""chaoslib: network chaos for services built on Redis and PostgreSQL."""

__version__ = "0.1.0"

from loguru import logger as _logger

# A library stays quiet until its user asks for logs (chaoslib.log.configure_logging).
_logger.disable("chaoslib")
