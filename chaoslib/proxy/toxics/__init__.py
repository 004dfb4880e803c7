"""The toxic catalogue: importing this package registers every toxic type by name.

Each module here is one type's behaviour; its attributes, bounds and streams are its
entry in :mod:`chaoslib.proxy.schema` (adding a type: one entry there, one module here).
"""

from chaoslib.proxy.toxics import (  # noqa: F401  (imported to register)
    bandwidth,
    connect_delay,
    latency,
    limit_data,
    limit_time,
    noop,
    pg_query,
    redis_command,
    reset_peer,
    slicer,
    slow_close,
    timeout,
)
from chaoslib.proxy.toxics.base import STREAMS, Chunk, Toxic

TOXIC_TYPES = Toxic.registry

__all__ = ["STREAMS", "TOXIC_TYPES", "Chunk", "Toxic"]
