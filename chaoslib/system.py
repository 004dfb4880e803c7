"""The system under test: a profile's services as local processes on the embedded stack.

Every service reaches Redis and PostgreSQL through its own per-client proxy
(``redis-shard_01``, ``db-orchestrator``, …) created on the stack's proxy
server, so one client can be cut off while the others keep working. Observers
and checks use the direct URLs, which no fault touches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import redis
from loguru import logger

from chaoslib.errors import ConfigError
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.network import Link
from chaoslib.profile import Profile
from chaoslib.services.base import Service
from chaoslib.services.process_service import ProcessService
from chaoslib.stack import Stack
from chaoslib.toxiproxy import Toxiproxy, ToxiproxyError
from chaoslib.wait import wait_until

REPO = Path(__file__).resolve().parent.parent


class SystemBase:
    """What scenarios use, whatever runs the system: links, services, state from the source.

    ``direct`` holds URLs that reach Redis and PostgreSQL without any proxy: the
    observers and checks read through them, so no fault blinds them.
    """

    toxiproxy: Toxiproxy
    direct: dict[str, str]
    services: dict[str, Service]

    def __init__(
        self,
        profile: Profile,
        timing: str,
        workdir: Path,
        *,
        fragile: str = "",
        webhook_url: str = "",
        ledger: Ledger | None = None,
    ) -> None:
        self.profile = profile
        self.timing_name = timing
        self.timing = profile.timing(timing)
        self.workdir = workdir
        self.fragile = profile.check_fragile(fragile)
        self.webhook_url = webhook_url
        self.ledger = ledger
        self.services = {}
        # The file the system writes its alerts to, if chaoslib knows it; checks read only
        # what was appended after ``alert_offset`` (the scenario's start), never older lines.
        self.alert_log: Path | None = workdir / "critical_alerts.log"
        self.alert_offset = 0

    def stack_service(self, name: str) -> Service:
        """The stack's ``redis`` or ``postgres`` server, as a Service faults can act on."""
        raise NotImplementedError

    def service(self, name: str) -> Service:
        raise NotImplementedError

    def start_all(self) -> None:
        raise NotImplementedError

    def stop_all(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        with redis.Redis.from_url(self.direct["redis"], socket_timeout=5) as r:
            r.flushall()
        if self.alert_log is not None:
            self.alert_log.unlink(missing_ok=True)
        self.mark_alerts()

    def mark_alerts(self) -> None:
        """From here on, alert lines count: whatever the file held before is history."""
        log = self.alert_log
        self.alert_offset = log.stat().st_size if log is not None and log.exists() else 0

    def alert_lines(self) -> list[str] | None:
        """Alert lines written since :meth:`mark_alerts`; None if no alert file is known."""
        if self.alert_log is None:
            return None
        if not self.alert_log.exists():
            return []
        with self.alert_log.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(self.alert_offset if self.alert_offset <= size else 0)
            return fh.read().decode("utf-8", "replace").splitlines()

    def link(self, name: str) -> Link:
        if name not in self.profile.links:
            raise ConfigError(
                f"unknown link {name!r}; profile {self.profile.name} has: "
                f"{', '.join(self.profile.links)}"
            )
        return Link(name, self.toxiproxy, ledger=self.ledger)

    def links_to(self, stack_service: str, client: str | None = None) -> list[str]:
        return [
            link.name
            for link in self.profile.links.values()
            if link.service == stack_service and (client is None or link.client == client)
        ]

    def probe_url(self, link: str) -> str | None:
        """A URL through ``link`` that this host can use, if the link is reachable from here."""
        return None

    def log_path(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    # -- the state, read from the source -------------------------------------------------
    def heartbeats(self, timeout: float) -> dict[str, dict[str, Any]]:
        """One fresh heartbeat from every shard, read from Redis directly."""
        shards = set(self.profile.shards())
        pattern = self.profile.contract.heartbeat_channel
        seen: dict[str, dict[str, Any]] = {}
        with redis.Redis.from_url(self.direct["redis"], socket_timeout=5) as r:
            pubsub = r.pubsub(ignore_subscribe_messages=True)
            pubsub.psubscribe(pattern)

            def all_heard() -> bool:
                message = pubsub.get_message(timeout=0.2)
                if message and message["type"] == "pmessage":
                    hb = json.loads(message["data"])
                    seen[str(hb.get("shard_id"))] = hb
                return shards <= set(seen)

            try:
                wait_until(
                    all_heard, timeout=timeout, interval=0, what="a heartbeat from every shard"
                )
            finally:
                pubsub.close()
        return seen

    def wait_steady(self, timeout: float) -> dict[str, set[str]]:
        """Every game on exactly one shard, every shard heartbeating and healthy."""
        total = int(self.timing.env.get("GAME_COUNT", "0"))
        state: dict[str, set[str]] = {}

        def steady() -> bool:
            beats = self.heartbeats(timeout)
            state.clear()
            state.update({s: set(hb.get("games") or []) for s, hb in beats.items()})
            games = [g for gs in state.values() for g in gs]
            healthy = all(hb.get("status") == "healthy" for hb in beats.values())
            return healthy and len(games) == len(set(games)) and (not total or len(games) == total)

        wait_until(steady, timeout=timeout, interval=0.1, what="the system's steady state")
        return state


class LocalSystem(SystemBase):
    """The profile's services as local processes on the embedded stack."""

    services: dict[str, ProcessService]  # type: ignore[assignment]

    def __init__(self, profile: Profile, timing: str, stack: Stack, workdir: Path, **kwargs: Any):
        super().__init__(profile, timing, workdir, **kwargs)
        if not stack.proxy_url:
            raise ConfigError("the stack has no proxy server; start it with invoke stack.up")
        self.stack = stack
        self.toxiproxy = Toxiproxy(stack.proxy_url)
        self.direct = {name: stack.services[name].url for name in ("redis", "postgres")}
        self.link_urls: dict[str, str] = {}

    def stack_service(self, name: str) -> Service:
        return self.stack.services[name]

    # -- links ---------------------------------------------------------------------------
    def create_links(self) -> dict[str, str]:
        """One proxy per link on the stack's proxy server; returns link -> client URL."""
        host = self.stack.config.host
        for link in self.profile.links.values():
            server = self.stack.services[link.service]
            try:
                self.toxiproxy.delete_proxy(link.name)
            except ToxiproxyError as exc:
                if exc.status != 404:
                    raise
            proxy = self.toxiproxy.create_proxy(
                link.name, listen=f"{host}:0", upstream="{}:{}".format(*server.address)
            )
            self.link_urls[link.name] = server.url_at(proxy.listen_port)
        return dict(self.link_urls)

    # -- services ------------------------------------------------------------------------

    def probe_url(self, link: str) -> str | None:
        return self.link_urls.get(link)

    def env_for(self, name: str) -> dict[str, str]:
        svc = self.profile.services[name]
        env: dict[str, str] = {
            **self.timing.env,
            "ALERT_LOG_PATH": str(self.alert_log),
            "SLACK_WEBHOOK_URL": self.webhook_url,
            "FRAGILE": self.fragile,
            "PYTHONUNBUFFERED": "1",
            **svc.env,
        }
        if svc.redis:
            env["REDIS_URL"] = self.link_urls[svc.redis]
        if svc.database:
            env["DATABASE_URL"] = self.link_urls[svc.database]
        return env

    def service(self, name: str) -> ProcessService:
        if name not in self.services:
            svc = self.profile.services[name]
            self.services[name] = ProcessService(
                name,
                (sys.executable, "-m", svc.module),
                self.log_path(name),
                env=self.env_for(name),
                cwd=REPO,
                ready_pattern=svc.ready,
            )
        return self.services[name]

    def start_all(self) -> None:
        if not self.link_urls:
            self.create_links()
        # Shards first: the orchestrator hands out games once, after its startup grace.
        order = sorted(
            self.profile.services, key=lambda n: self.profile.services[n].role != "shard"
        )
        for name in order:
            self.service(name).start()
        logger.info("system started: {}", ", ".join(order))

    def stop_all(self) -> None:
        for proc in self.services.values():
            proc.stop(timeout=5)

    def reset(self) -> None:
        """A clean slate between scenarios: fresh processes, empty Redis, links healthy."""
        self.stop_all()
        self.toxiproxy.reset()
        self._flush()
        self.start_all()


SystemUnderTest = LocalSystem  # the name the first scenarios used
