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

import psutil
from loguru import logger

from chaoslib.services.binaries import (
    binary_source,
    find_postgres_bindir,
    find_redis_server,
)
from chaoslib.services.managed import ManagedServer, pick_free_port
from chaoslib.services.postgres import PostgresServer
from chaoslib.services.proxy_server import ToxiproxyServer
from chaoslib.services.redis import RedisServer
from chaoslib.services.stack_file import STATE_VERSION, damaged, parse_state, service_from_record
from chaoslib.state import chaos_home, locate_home, locked, read_json, write_json

KEEP_RUNS = 5
# proxy name -> the service it fronts; the names match proxies/toxiproxy.json
LINKS = {"redis": "redis", "timescaledb": "postgres"}
START_ONE = "Start one with: invoke stack.up (or chaos stack.up)"


def no_stack(home: Path | None = None, then: str = START_ONE) -> str:
    """The "no stack is running" message, saying where chaoslib looked and why there: a stack
    started from another directory is in another ``.chaos`` (CHAOS_HOME names one for all)."""
    return f"No stack is running. {then}. Looked in {locate_home(home)}."


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
        # What stop() would not delete, and why (a directory it did not create)
        self.left_alone: list[str] = []

    @property
    def state_path(self) -> Path:
        return self.home / "stack.json"

    @property
    def lock_path(self) -> Path:
        return self.home / "stack.lock"

    @property
    def identity(self) -> str | None:
        """Which stack this is: its run directory, unique to each start (ledger entries
        name it, so a reset can tell a fault on a stack that is gone)."""
        return str(self.run_dir) if self.run_dir else None

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
        """Stop every service (idempotent), delete the data it created, forget the state file.

        Only processes whose identity matches the record are signalled, and only data
        directories chaoslib marked at creation, under the chaos home, are deleted: the
        state file may have been edited. What is left alone is in :attr:`left_alone`."""
        stopped = []
        self.left_alone = []
        for name, service in reversed(list(self.services.items())):
            if service.is_running():
                stopped.append(name)
            else:
                self._note_stranger(name, service)
            service.stop()
            why = None
            if isinstance(service, PostgresServer):
                if service.is_running():  # an identity that matched, yet it outlived stop
                    why = f"left {service.data_dir} alone: {name} is still running"
                else:
                    why = service.remove_data(service.data_roots(self.home))
            elif isinstance(service, RedisServer):
                why = service.remove_data((self.home,))
            if why:
                logger.warning("{}", why)
                self.left_alone.append(why)
        self.state_path.unlink(missing_ok=True)
        return stopped

    def _note_stranger(self, name: str, service: ManagedServer) -> None:
        handle = service.record().handle
        if handle is not None and psutil.pid_exists(handle.pid):
            self.left_alone.append(
                f"left pid {handle.pid} alone: it is not the {name} chaoslib started "
                "(its start time, program or process group differs from the state file)"
            )

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
        state = parse_state(stack.state_path, data)
        stack.run_dir = state.run_dir
        for name, record in state.records.items():
            try:
                stack.services[name] = service_from_record(record)
            except (OSError, ValueError, KeyError) as exc:
                raise damaged(stack.state_path, f"services.{name} cannot be used ({exc})") from None
            stack.services[name].on_start = stack.save
        stack.links = dict(state.links)
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
    result = take_down(home)
    return None if result is None else result[0]


def take_down(home: Path | None = None) -> tuple[list[str], list[str]] | None:
    """:func:`down`, plus what it left alone and why (directories it did not create)."""
    home = chaos_home(home)
    with locked(home / "stack.lock"):
        existing = Stack.load(home)
        if existing is None:
            return None
        return existing.stop(), list(existing.left_alone)
