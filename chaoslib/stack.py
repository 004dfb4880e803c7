"""The embedded default: Redis, PostgreSQL and the proxy server, started and stopped as one unit.

Clients reach Redis and PostgreSQL through the proxy's *links* (named as in
``proxies/toxiproxy.json``: ``redis`` and ``timescaledb``), so network faults
can be injected between them.

A stack writes ``.chaos/stack.json`` as each process is spawned (before it is
ready), so that any later chaoslib process can find it, and so that
``stack.down`` can stop everything even after the starter was SIGKILLed.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from chaoslib.errors import StackError
from chaoslib.services.base import ServiceRecord
from chaoslib.services.binaries import (
    Binary,
    binary_source,
    find_postgres_bindir,
    find_redis_server,
)
from chaoslib.services.managed import ManagedServer, pick_free_port
from chaoslib.services.postgres import PostgresServer
from chaoslib.services.proxy_server import ToxiproxyServer
from chaoslib.services.redis import RedisServer
from chaoslib.state import chaos_home, locked, read_json, write_json

STATE_VERSION = 1
KEEP_RUNS = 5
# proxy name -> the service it fronts; the names match proxies/toxiproxy.json
LINKS = {"redis": "redis", "timescaledb": "postgres"}


@dataclass(frozen=True)
class StackConfig:
    """How to start the embedded stack. ``owned`` servers die with this process."""

    home: Path | None = None
    host: str = "127.0.0.1"
    redis_port: int | None = None
    postgres_port: int | None = None
    proxy_port: int | None = None
    redis_persistence: bool = False
    binaries: str | None = None
    owned: bool = False
    start_timeout: float = 60.0


class Stack:
    """The local services of one run, and the state file that describes them."""

    def __init__(self, config: StackConfig | None = None, *, home: Path | None = None) -> None:
        self.config = config or StackConfig()
        self.home = chaos_home(home or self.config.home)
        self.services: dict[str, ManagedServer] = {}
        self.links: dict[str, int] = {}  # proxy name -> its listen port
        self.run_dir: Path | None = None

    @property
    def state_path(self) -> Path:
        return self.home / "stack.json"

    @property
    def lock_path(self) -> Path:
        return self.home / "stack.lock"

    # -- starting ------------------------------------------------------------
    def _build(self) -> None:
        cfg = self.config
        source = cfg.binaries or binary_source()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.run_dir = self.home / "runs" / f"{stamp}-{time.monotonic_ns() % 100000:05d}"
        common: dict[str, Any] = {
            "host": cfg.host,
            "owned": cfg.owned,
            "start_timeout": cfg.start_timeout,
        }
        self.services = {
            "redis": RedisServer(
                self.run_dir / "redis",
                port=cfg.redis_port,
                persistence=cfg.redis_persistence,
                binary=find_redis_server(source),
                **common,
            ),
            "postgres": PostgresServer(
                self.run_dir / "postgres",
                port=cfg.postgres_port,
                binary=find_postgres_bindir(source),
                **common,
            ),
            "toxiproxy": ToxiproxyServer(self.run_dir / "toxiproxy", port=cfg.proxy_port, **common),
        }

    def _write_proxy_config(self, proxy: ToxiproxyServer) -> None:
        self.links = {name: pick_free_port() for name in LINKS}
        proxy.write_config(
            [
                {
                    "name": name,
                    "listen": f"{self.config.host}:{self.links[name]}",
                    "upstream": "{}:{}".format(*self.services[service].address),
                }
                for name, service in LINKS.items()
            ]
        )

    def start(self) -> None:
        """Start every service; on any failure stop what was started and re-raise."""
        self._build()
        try:
            for service in self.services.values():
                if isinstance(service, ToxiproxyServer):
                    self._write_proxy_config(service)
                service.start(on_spawn=self.save)
                self.save()
        except BaseException:
            logger.warning("stack start failed; stopping what was started")
            self.stop()
            raise
        self._prune_old_runs()

    def save(self) -> None:
        write_json(
            self.state_path,
            {
                "version": STATE_VERSION,
                "run_dir": str(self.run_dir),
                "services": {name: svc.record().to_dict() for name, svc in self.services.items()},
                "links": dict(self.links),
            },
        )

    # -- stopping ------------------------------------------------------------
    def stop(self) -> list[str]:
        """Stop every service (idempotent), delete their data, forget the state file."""
        stopped = []
        for name, service in reversed(list(self.services.items())):
            if service.is_running():
                stopped.append(name)
            service.stop()
            if isinstance(service, PostgresServer):
                service.remove_data()
            if isinstance(service, RedisServer):
                shutil.rmtree(service.data_dir, ignore_errors=True)
        self.state_path.unlink(missing_ok=True)
        return stopped

    def _prune_old_runs(self) -> None:
        runs = sorted((self.home / "runs").glob("*"))
        for old in runs[:-KEEP_RUNS]:
            if old != self.run_dir:
                shutil.rmtree(old, ignore_errors=True)

    # -- finding a running stack ----------------------------------------------
    @classmethod
    def load(cls, home: Path | None = None) -> Stack | None:
        """The stack described by the state file, or None if there is none."""
        stack = cls(home=home)
        data = read_json(stack.state_path)
        if data is None:
            return None
        if data.get("version") != STATE_VERSION or "services" not in data:
            raise StackError(
                f"{stack.state_path} was written by another chaoslib version. "
                "Stop its processes by hand, then delete the file."
            )
        stack.run_dir = Path(data["run_dir"])
        for name, raw in data["services"].items():
            stack.services[name] = service_from_record(ServiceRecord.from_dict(raw))
            stack.services[name].on_start = stack.save
        stack.links = {name: int(port) for name, port in data.get("links", {}).items()}
        return stack

    @property
    def proxy_url(self) -> str | None:
        """The proxy server's API (what ``TOXIPROXY_URL`` would be)."""
        proxy = self.services.get("toxiproxy")
        return proxy.url if proxy else None

    def link_urls(self) -> dict[str, dict[str, str]]:
        """For each link: the proxied URL that clients use, and the direct upstream URL."""
        result = {}
        for name, port in self.links.items():
            service = self.services.get(LINKS.get(name, ""))
            if service is not None:
                result[name] = {"url": service.url_at(port), "upstream": service.url}
        return result

    def all_running(self) -> bool:
        return bool(self.services) and all(s.is_running() for s in self.services.values())

    def status(self) -> dict[str, Any]:
        """The ``stack.status --json`` document."""
        return {
            "services": {
                name: {
                    "url": svc.url,
                    "pid": svc.pid,
                    "running": svc.is_running(),
                    "paused": svc.is_paused(),
                    "source": svc.extra.get("source"),
                    "version": svc.extra.get("version"),
                    "log": svc.log_path,
                    **(
                        {"timescaledb": svc.extra["timescaledb"]}
                        if "timescaledb" in svc.extra
                        else {}
                    ),
                }
                for name, svc in self.services.items()
            },
            "links": self.link_urls(),
        }

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def service_from_record(record: ServiceRecord) -> ManagedServer:
    run_dir = record.run_dir
    service: ManagedServer
    if record.kind == "redis":
        service = RedisServer(
            run_dir,
            name=record.name,
            host=record.host,
            port=record.port,
            owned=False,
            binary=Binary(record.extra["binary"], record.extra["source"]),
        )
    elif record.kind == "toxiproxy":
        service = ToxiproxyServer(
            run_dir, name=record.name, host=record.host, port=record.port, owned=False
        )
    elif record.kind == "postgres":
        service = PostgresServer(
            run_dir,
            name=record.name,
            host=record.host,
            port=record.port,
            owned=False,
            binary=Binary(str(Path(record.extra["binary"]).parent), record.extra["source"]),
            data_dir=record.extra.get("data_dir"),
        )
    else:
        raise StackError(f"unknown service kind {record.kind!r} in the state file")
    service.adopt(record)
    return service


def up(config: StackConfig | None = None) -> tuple[Stack, bool]:
    """Start the stack unless one is running; returns the stack and whether it already ran.

    A state file whose processes are partly or wholly gone (a crash) is
    cleaned up first, so ``up`` always ends with a whole, healthy stack.
    """
    config = config or StackConfig()
    home = chaos_home(config.home)
    with locked(home / "stack.lock"):
        existing = Stack.load(home)
        if existing is not None:
            if existing.all_running():
                return existing, True
            logger.warning("found a stale stack in {}; cleaning it up first", home)
            existing.stop()
        stack = Stack(config)
        stack.start()
        return stack, False


def down(home: Path | None = None) -> list[str] | None:
    """Stop the stack in the state file: the names that were running, or None if no stack."""
    home = chaos_home(home)
    with locked(home / "stack.lock"):
        existing = Stack.load(home)
        if existing is None:
            return None
        return existing.stop()
