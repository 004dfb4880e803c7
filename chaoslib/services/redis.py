"""A managed local redis-server."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoslib.services.binaries import Binary, find_redis_server
from chaoslib.services.managed import ManagedServer
from chaoslib.services.process import ProcessSpec
from chaoslib.state import mark_created, remove_created


def redis_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    for word in out.split():
        if word.startswith("v="):
            return word[2:]
    return out.strip()


class RedisServer(ManagedServer):
    """redis-server on a free port in its own directory.

    Persistence is off by default (``--save "" --appendonly no``) because a chaos
    run wants a clean server; ``persistence=True`` turns on the append-only file
    so that a restart brings the data back.
    """

    kind = "redis"
    program = "redis-server"

    def __init__(
        self,
        run_dir: str | Path,
        *,
        name: str = "redis",
        persistence: bool = False,
        binary: Binary | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, run_dir, **kwargs)
        self.persistence = persistence
        self.binary = binary or find_redis_server()
        self.extra.update(source=self.binary.source, binary=self.binary.path)

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def url(self) -> str:
        return self.url_at(self.port)

    def url_at(self, port: int) -> str:
        return f"redis://{self.host}:{port}/0"

    def prepare(self) -> None:
        if not self.data_dir.exists():
            self.data_dir.mkdir(parents=True)
            mark_created(self.data_dir)
        self.extra.setdefault("version", redis_version(self.binary.path))

    def build_spec(self) -> ProcessSpec:
        if self.persistence:
            persist = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "60 1"]
        else:
            persist = ["--appendonly", "no", "--save", ""]
        argv = [
            self.binary.path,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--logfile",
            "",
            *persist,
        ]
        return ProcessSpec(argv=tuple(argv), log_path=self.log_path)

    def remove_data(self, within: tuple[Path, ...] | None = None) -> str | None:
        """Delete the data directory if chaoslib created it (marked) under ``within``
        (default: the run directory); otherwise leave it and return why."""
        return remove_created(self.data_dir, within or (self.run_dir,))

    def client(self, **kwargs: Any) -> redis.Redis:
        """A client that fails fast: redis-py's built-in retries would hide the fault."""
        opts: dict[str, Any] = {
            "socket_timeout": 1.0,
            "socket_connect_timeout": 1.0,
            "retry": Retry(NoBackoff(), 0),
        }
        opts.update(kwargs)
        return redis.Redis(host=self.host, port=self.port, **opts)

    def probe(self) -> bool:
        try:
            with self.client(socket_timeout=0.5, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            return False
