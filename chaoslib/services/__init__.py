"""Backends that run and control services: local processes (and, later, containers)."""

from chaoslib.services.base import Service, ServiceRecord
from chaoslib.services.managed import ManagedServer
from chaoslib.services.postgres import PostgresServer
from chaoslib.services.redis import RedisServer

__all__ = ["ManagedServer", "PostgresServer", "RedisServer", "Service", "ServiceRecord"]
