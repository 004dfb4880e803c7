"""The system under test: a profile's services as local processes on the embedded stack.

Every service reaches Redis and PostgreSQL through its own per-client proxy
(``redis-shard_01``, ``db-orchestrator``, …) created on the stack's proxy
server, so one client can be cut off while the others keep working. Observers
and checks use the direct URLs, which no fault touches. What faults act on is
the system's :class:`~chaoslib.target.base.Target`; the system runs the services.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import redis
from loguru import logger

from chaoslib.errors import ConfigError
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.network import Link
from chaoslib.profiles.contract import Beat
from chaoslib.profiles.profile import Profile
from chaoslib.profiles.services import Launch, launch
from chaoslib.services.base import Service
from chaoslib.services.process_service import ProcessService
from chaoslib.services.stack import Stack
from chaoslib.target.base import Target, direct_urls
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError
from chaoslib.wait import wait_until

# Until a subclass knows its proxy server: nothing listens on port 0, so a call fails at once.
NO_PROXY = "http://127.0.0.1:0"


class SystemBase:
    """What scenarios use, whatever runs the system: its lifecycle and the state, read from
    the source.

    What faults act on is :attr:`target`: the proxy, the profile's links, the services,
    the ledger, and ``direct``, URLs that reach Redis and PostgreSQL without any proxy (the
    observers and checks read through them, so no fault blinds them). The attributes of
    the same names here are the target's, under the names scenarios use.
    """

    kind = "local"

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
        # Absolute: the services run from their own directory (the checkout), so a
        # relative run directory would send their alert file somewhere else.
        self.workdir = workdir.resolve()
        self.fragile = profile.check_fragile(fragile)
        self.webhook_url = webhook_url
        self.target = Target(Toxiproxy(NO_PROXY), ledger=ledger, kind=self.kind)
        # The profile's links, each known by name before its proxy exists (no URL yet: ""),
        # so a scenario can name any of them whatever runs the system.
        for link in profile.links.values():
            self.target.add_link(link.name, "", service=link.service, client=link.client)
        # The file the system writes its alerts to, if chaoslib knows it; checks read only
        # what was appended after ``alert_offset`` (the scenario's start), never older lines.
        self.alert_log: Path | None = self.workdir / "alerts.log"
        self.alert_offset = 0

    # -- what faults act on: the target's --------------------------------------------------
    @property
    def toxiproxy(self) -> Toxiproxy:
        return self.target.toxiproxy

    @toxiproxy.setter
    def toxiproxy(self, client: Toxiproxy) -> None:
        self.target.toxiproxy = client

    @property
    def direct(self) -> dict[str, str]:
        return self.target.direct

    @direct.setter
    def direct(self, urls: dict[str, str]) -> None:
        self.target.direct = urls

    @property
    def services(self) -> dict[str, Service]:
        return self.target.services

    @property
    def ledger(self) -> Ledger | None:
        return self.target.ledger

    @property
    def link_urls(self) -> dict[str, str]:
        return self.target.link_urls

    def link(self, name: str) -> Link:
        return self.target.link(name)

    def links_to(self, stack_service: str, client: str | None = None) -> list[str]:
        return self.target.links_to(stack_service, client)

    def probe_url(self, link: str) -> str | None:
        """A URL through ``link`` that this host can use, if the link is reachable from here."""
        return self.target.probe_url(link)

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

    def log_path(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    # -- the state, read from the source -------------------------------------------------
    def heartbeats(self, timeout: float, only: set[str] | None = None) -> dict[str, Beat]:
        """One fresh heartbeat from every worker (or those in ``only``), read from Redis
        directly (the contract's channel and paths)."""
        hb = self.profile.contract.heartbeat
        workers = only or set(self.profile.workers())
        if not hb.channel:
            raise ConfigError("the profile declares no heartbeat channel (contract.heartbeat)")
        seen: dict[str, Beat] = {}
        with redis.Redis.from_url(self.direct["redis"], socket_timeout=5) as r:
            pubsub = r.pubsub(ignore_subscribe_messages=True)
            pubsub.psubscribe(hb.channel)

            def all_heard() -> bool:
                message = pubsub.get_message(timeout=0.2)
                if message and message["type"] == "pmessage":
                    with contextlib.suppress(ValueError):
                        found = hb.read(json.loads(message["data"]))
                        if found is not None:
                            seen[found.worker] = found
                return workers <= set(seen)

            try:
                wait_until(
                    all_heard, timeout=timeout, interval=0, what="a heartbeat from every worker"
                )
            finally:
                pubsub.close()
        return seen

    def wait_steady(self, timeout: float) -> dict[str, frozenset[str]]:
        """Every item on exactly one worker, every worker heartbeating and healthy."""
        hb, contract = self.profile.contract.heartbeat, self.profile.contract
        total = int(self.timing.settings.get("item_count", 0))
        listed = set(contract.items)
        state: dict[str, frozenset[str]] = {}

        def steady() -> bool:
            beats = self.heartbeats(timeout)
            state.clear()
            state.update({w: b.items for w, b in beats.items()})
            items = [i for held in state.values() for i in held]
            healthy = all(not (hb.status and hb.healthy) or b.status in hb.healthy
                          for b in beats.values())  # fmt: skip
            whole = set(items) == listed if listed else (not total or len(items) == total)
            return healthy and len(items) == len(set(items)) and bool(items) and whole

        wait_until(steady, timeout=timeout, interval=0.1, what="the system's steady state")
        return state

    def settle_time(self) -> float:
        """How long the system may take to reach its steady state after a (re)start."""
        settings = self.timing.settings
        return (
            30
            + 3 * settings.get("startup_grace", 0.0)
            + 3 * settings.get("heartbeat_interval", 0.0)
        )

    def chaos_vars(self, name: str) -> dict[str, str]:
        """What chaoslib tells a service, for its profile's ``${CHAOS_*}`` env values."""
        svc = self.profile.services[name]
        urls = self.target.link_urls
        return {
            "CHAOS_SERVICE": name,
            "CHAOS_REDIS_URL": urls.get(svc.redis, "") if svc.redis else "",
            "CHAOS_DATABASE_URL": urls.get(svc.database, "") if svc.database else "",
            "CHAOS_WEBHOOK_URL": self.webhook_url,
            "CHAOS_ALERT_FILE": str(self.alert_log or ""),
            "CHAOS_FRAGILE": self.fragile,
            "CHAOS_REPORT_DIR": str(self.workdir),
        }


class LocalSystem(SystemBase):
    """The profile's services as local processes on the embedded stack."""

    def __init__(self, profile: Profile, timing: str, stack: Stack, workdir: Path, **kwargs: Any):
        super().__init__(profile, timing, workdir, **kwargs)
        if not stack.proxy_url:
            raise ConfigError("the stack has no proxy server; start it with chaos stack.up")
        self.stack = stack
        self.target.toxiproxy = Toxiproxy(stack.proxy_url)
        self.target.direct = direct_urls(stack)
        self.target.proxy_service = stack.services.get("toxiproxy")

    def stack_service(self, name: str) -> Service:
        return self.stack.services[name]

    # -- links ---------------------------------------------------------------------------
    def create_links(self) -> dict[str, str]:
        """One proxy per link on the stack's proxy server, each registered in the target
        with the URL its client uses; returns link -> client URL."""
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
            url = server.url_at(proxy.listen_port)
            self.target.add_link(link.name, url, service=link.service, client=link.client)
        return dict(self.link_urls)

    # -- services ------------------------------------------------------------------------
    def env_for(self, name: str) -> dict[str, str]:
        """The timing's env and settings under the system's names, chaoslib's ``CHAOS_*``
        values, and the service's own env with ``${VAR}`` expanded from all of those."""
        return self.launch(name).env

    def launch(self, name: str) -> Launch:
        base = {**self.profile.env_for(self.timing_name, name), **self.chaos_vars(name)}
        found = launch(self.profile.services[name], {**os.environ, **base})
        return dataclasses.replace(found, env={**base, **found.env})

    def service(self, name: str) -> ProcessService:
        if name not in self.services:
            svc = self.profile.services[name]
            how = self.launch(name)
            self.services[name] = ProcessService(
                name,
                how.argv,
                self.log_path(name),
                env=how.env,
                cwd=how.cwd,
                ready=svc.ready,
                heartbeat_seen=lambda: self._heard(name),
            )
        return self.services[name]  # type: ignore[return-value]

    def _heard(self, worker: str) -> bool:
        """A heartbeat from ``worker`` within a few intervals (readiness ``heartbeat``)."""
        interval = self.timing.settings.get("heartbeat_interval", 1.0)
        with contextlib.suppress(Exception):
            return worker in self.heartbeats(timeout=3 * interval + 1, only={worker})
        return False

    def start_all(self) -> None:
        if not any(self.link_urls.values()):  # no link has a client URL: none was created
            self.create_links()
        # Workers first: a coordinator may hand out items once, after its startup grace.
        workers = set(self.profile.workers())
        order = sorted(self.profile.services, key=lambda n: n not in workers)
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
