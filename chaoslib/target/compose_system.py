"""The system under test as a docker-compose project: the user's files plus chaoslib's overlay.

Two ways to meet a project, and they are kept strictly apart:

- **attached**: the project is already running (the user brought it up). chaoslib
  never runs a compose command on it, never removes a container or a volume and
  never wipes its data; between scenarios it restores the *system's* state
  (services running, chaoslib's own faults healed) and deletes only the Redis
  keys chaoslib wrote and those the profile declares disposable.
- **created**: nothing runs, so chaoslib brings the project up from the profile's
  files and records that it did (:mod:`chaoslib.services.compose_projects`); only then may
  it flush Redis between scenarios and ``down -v`` at the end.

Redis and PostgreSQL are reached directly on their published loopback ports (for
observers), the services through the toxiproxy container's proxies (for faults).
Each service's container log is followed into ``<workdir>/logs/<service>.log``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from loguru import logger

from chaoslib.errors import ConfigError, ServiceError
from chaoslib.faults.ledger import LedgerEntry
from chaoslib.profiles.profile import ComposeDef, Profile
from chaoslib.services.compose_facts import bridge_gateway, image_variables, published_port
from chaoslib.services.compose_projects import (
    UP_TIMEOUT_S,
    CreatedProject,
    CreatedProjects,
    compose_command,
)
from chaoslib.services.docker import DockerService, docker_client
from chaoslib.services.docker_logs import LogFollower
from chaoslib.services.managed import pick_free_port
from chaoslib.target.compose_attach import attached_alert_file, check_timings, refuse_existing
from chaoslib.target.system import SystemBase
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError
from chaoslib.wait import wait_until

__all__ = ["ComposeSystem", "bridge_gateway", "compose_command", "published_port"]

OWN_KEYS = "chaoslib:*"  # every Redis key chaoslib's own workloads write
PULL_ERRORS = ("pull access denied", "manifest unknown", "dial tcp", "no such host", "not found")


class ComposeSystem(SystemBase):
    kind = "compose"

    def __init__(
        self,
        profile: Profile,
        timing: str,
        workdir: Path,
        *,
        home: Path | None = None,
        allow_reset_data: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(profile, timing, workdir, **kwargs)
        if profile.compose is None:
            raise ConfigError(f"profile {profile.name} has no compose section")
        self.compose: ComposeDef = profile.compose
        if allow_reset_data and not self.compose.disposable:
            raise ConfigError(
                f"--allow-reset-data: profile {profile.name} does not say its data is "
                "disposable (compose.disposable: true), so chaoslib will not wipe it"
            )
        self.allow_reset_data = allow_reset_data
        self.client = docker_client()
        self.projects = CreatedProjects(home)
        self.created: CreatedProject | None = None
        self.followers: dict[str, LogFollower] = {}
        self._stack: dict[str, DockerService] = {}
        self._stopped: dict[str, str] = {}  # service -> the ledger entry of its stop
        self._attach: bool | None = None  # attach (True) or create (False), once decided
        self.alert_log = None

    @property
    def owned(self) -> bool:
        """chaoslib brought this project up itself, so its data is chaoslib's to wipe."""
        return self.created is not None

    # -- the project ---------------------------------------------------------------------
    def files(self) -> list[Path]:
        paths = [self.compose.path(f) for f in self.compose.files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ConfigError(
                f"profile {self.profile.name}: compose file(s) not found: {', '.join(missing)}"
            )
        return paths

    def is_running(self) -> bool:
        """The project is up (its proxy runs): chaoslib attaches to it and owns nothing.
        Decided once: :meth:`up` keeps to it, whatever happens meanwhile."""
        if self._attach is None:
            self._attach = self._running_proxy() is not None
        return self._attach

    def _running_proxy(self) -> DockerService | None:
        found = DockerService.find(
            service=self.compose.toxiproxy, project=self.compose.project, client=self.client
        )
        return found[0] if found and found[0].is_running() else None

    def _create(self) -> None:
        """Bring the project up from the profile's files, recorded first as chaoslib's."""
        refuse_existing(self.client, self.compose)
        files = self.files()
        config = self.compose.path(self.compose.proxy_config)
        if not config.is_file():
            raise ConfigError(
                f"the proxy config {config} does not exist (compose.proxy_config of profile "
                f"{self.profile.name}); docker would create a directory in its place"
            )
        (self.workdir / "alerts").mkdir(parents=True, exist_ok=True)
        env_file = self.workdir / "chaos.env"
        env_file.write_text(
            "".join(f"{k}={v}\n" for k, v in self.profile.env_for(self.timing_name).items())
        )
        # The reference compose files' variables; the caller's environment wins for images.
        env = {
            **self.compose.env,
            **{k: v for k, v in os.environ.items() if k in self.compose.env},
            "CHAOS_ENV_FILE": str(env_file),
            "CHAOS_ALERT_DIR": str(self.workdir / "alerts"),
            "CHAOS_PROXY_CONFIG": str(config),
            "TOXIPROXY_PORT": str(pick_free_port()),
            "REDIS_HOST_PORT": str(pick_free_port()),
            "POSTGRES_HOST_PORT": str(pick_free_port()),
            "CHAOS_WEBHOOK_URL": self.webhook_url,
            "CHAOS_FRAGILE": self.fragile,
        }
        project = CreatedProject(
            self.compose.project, tuple(str(f) for f in files), str(files[0].parent), env
        )
        self.projects.record(project)  # before up: a SIGKILL during up is still ours to undo
        self.created = project
        logger.info("docker-compose up: project {} (chaoslib creates it)", project.project)
        try:
            project.run("up", "-d", "--remove-orphans", timeout=UP_TIMEOUT_S)
        except ServiceError as exc:
            if any(word in exc.log_tail.lower() for word in PULL_ERRORS):
                names = ", ".join(image_variables(files)) or "the images in your compose files"
                raise ServiceError(
                    f"{exc} — an image could not be pulled. No registry reachable? Set {names} "
                    "to images this engine has (scripts/docker-test-env.sh builds "
                    "chaoslib/*:local)",
                    log_tail=exc.log_tail,
                ) from None
            raise
        self.created = self.projects.record_containers(project, self.client)
        name = self.compose.alert_file_name
        self.alert_log = self.workdir / "alerts" / name if name else None

    def _container(self, service: str) -> DockerService:
        found = DockerService.find(
            service=service, project=self.compose.project, client=self.client
        ) or DockerService.find(  # a container_name, but never a container of another project
            name=service, project=self.compose.project, client=self.client
        )
        if not found:
            raise ServiceError(
                f"compose service {service} has no container in {self.compose.project}"
            )
        return DockerService(service, found[0].container_name, client=self.client)

    def _observer_url(self, service: DockerService, port: int, url: str) -> str:
        bindings = (service.container.attrs["HostConfig"].get("PortBindings") or {}).get(
            f"{port}/tcp"
        ) or []
        if bindings and not any(b.get("HostPort") not in (None, "", "0") for b in bindings):
            # The scenarios restart this container, and docker then picks another port.
            raise ConfigError(
                f"{service.name} publishes port {port} on a host port docker picks anew at "
                "every restart, so chaoslib's observers would lose it when a scenario restarts "
                f"{service.name}; publish a fixed port (REDIS_HOST_PORT / POSTGRES_HOST_PORT "
                "for docker-compose.chaos-observe.yml)"
            )
        host_port = published_port(service, port)
        if host_port is None:
            raise ConfigError(
                f"{service.name} does not publish port {port} on this host, so chaoslib's "
                "observers cannot read it; add docker-compose.chaos-observe.yml (or a port of "
                "your own) to the project's files"
            )
        return url.format(host="127.0.0.1", port=host_port)

    def up(self) -> None:
        """Attach to the running project, or create it; then wait for the proxy's API."""
        attach = self.is_running()
        proxy = self._running_proxy()
        if attach and proxy is None:
            raise ConfigError(f"the project {self.compose.project} stopped while chaoslib "
                              "was attaching to it")  # fmt: skip
        if not attach:
            if proxy is not None:
                raise ConfigError(f"the project {self.compose.project} came up while chaoslib "
                                  "was about to create it; run again to attach to it")  # fmt: skip
            self._create()
            proxy = self._container(self.compose.toxiproxy)
        else:
            logger.info("attached to the running project {}", self.compose.project)
            self.alert_log = attached_alert_file(self.compose)
        self._stack = {
            "redis": self._container(self.compose.redis),
            "postgres": self._container(self.compose.postgres),
            "toxiproxy": proxy,
        }
        wait_until(
            lambda: published_port(self._container(self.compose.toxiproxy), 8474) is not None,
            timeout=30,
            what="the toxiproxy container's published API port",
        )
        api = published_port(self._container(self.compose.toxiproxy), 8474)
        self.target.toxiproxy = Toxiproxy(f"http://127.0.0.1:{api}")
        self.target.proxy_service = proxy
        self.target.direct = {
            "redis": self._observer_url(self._stack["redis"], 6379, "redis://{host}:{port}/0"),
            "postgres": self._observer_url(
                self._stack["postgres"], 5432, self.compose.database_url
            ),
        }
        if attach:
            check_timings(self)
        wait_until(self.toxiproxy.is_running, timeout=60, what="the toxiproxy container's API")
        # A created project's PostgreSQL restarts once after its first init: until both
        # servers answer, a fault task's steady state would fail on a system still starting.
        wait_until(self._redis_answers, timeout=60, interval=0.2, what="redis to answer")
        wait_until(self._postgres_answers, timeout=60, interval=0.2, what="postgres to answer")
        for name in self.profile.services:
            self.followers[name] = LogFollower(self.service(name), self.log_path(name)).start()
        self.mark_alerts()

    def down(self) -> None:
        """Take a created project down (volumes too); leave an attached one running as found."""
        for follower in self.followers.values():
            follower.stop()
        if self.created is None:
            self.restore()
            return
        try:
            logger.info(self.projects.take_down(self.created, self.client))
        except (ServiceError, ConfigError) as exc:
            logger.error("docker-compose down failed: {}", exc)

    # -- the SystemBase contract ---------------------------------------------------------
    def stack_service(self, name: str) -> DockerService:
        return self._stack[name]

    def service(self, name: str) -> DockerService:
        if name not in self.services:
            if name not in self.profile.services:
                raise ConfigError(f"unknown service {name!r} in profile {self.profile.name}")
            self.services[name] = self._container(self.profile.services[name].container or name)
            self.services[name].name = name
        return self.services[name]  # type: ignore[return-value]

    def start_all(self) -> None:
        if not self._stack:
            self.up()
            return
        for name in self.profile.services:
            self.service(name).start()
            if name in self._stopped and self.ledger is not None:
                self.ledger.remove(self._stopped.pop(name))

    def stop_all(self) -> None:
        """Stopped as recorded stops: a run killed before the restart leaves ledger entries,
        and ``chaos.reset`` starts the user's services again."""
        for name in self.profile.services:
            service = self.service(name)
            if self.ledger is not None and name not in self._stopped:
                entry = LedgerEntry(
                    "service",
                    {"service": name, "action": "stop", "container": service.container_name},
                    f"stop {name} (between scenarios)",
                )
                self._stopped[name] = self.ledger.add(entry).id
            service.stop(timeout=5)

    def restore(self) -> None:
        """The stack's servers and every service running (unpaused), chaoslib's toxics gone."""
        try:
            self.heal_own_faults()
        finally:  # whatever the proxy did, the user's services run again
            for service in [*self._stack.values(), *self.services.values()]:
                if service.is_paused():
                    service.resume()
                elif not service.is_running():
                    service.start()

    def heal_own_faults(self) -> None:
        """What chaoslib applied and did not heal: its ledger, and toxics it named."""
        from chaoslib.faults.recovery import heal_entry

        if self.ledger is not None:
            for entry in self.ledger.entries():
                if entry.id in self._stopped.values():
                    continue  # the reset's own stops: start_all undoes them, in order
                try:
                    logger.warning("healing a fault left applied: {}", heal_entry(entry, None))
                    self.ledger.remove(entry.id)
                except Exception as exc:  # the services must still be started; reset retries
                    logger.error("could not heal {}: {}", entry.description, exc)
        if self.owned:
            self.toxiproxy.reset()
            return
        for proxy in self.toxiproxy.proxies():
            for toxic in self.toxiproxy.toxics(proxy):
                if toxic.name.startswith("chaos_"):
                    try:
                        self.toxiproxy.remove_toxic(proxy, toxic.name)
                    except ToxiproxyError as exc:
                        if exc.status != 404:
                            raise

    def reset(self) -> None:
        """Between scenarios: the system restarted and healthy; its data kept unless ours."""
        self.stop_all()
        self.restore()
        wait_until(self._redis_answers, timeout=30, what="redis after the reset")
        self.clean_data()
        self.mark_alerts()
        self.start_all()

    def clean_data(self) -> None:
        import redis

        with redis.Redis.from_url(self.direct["redis"], socket_timeout=5) as r:
            if self.owned or self.allow_reset_data:
                r.flushall()
                if self.owned and self.alert_log is not None:
                    self.alert_log.unlink(missing_ok=True)
                return
            for pattern in (OWN_KEYS, *self.compose.reset_keys):
                keys = list(r.scan_iter(match=pattern, count=500))
                if keys:
                    r.delete(*keys)

    def _postgres_answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.direct["postgres"], connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def _redis_answers(self) -> bool:
        import redis

        try:
            with redis.Redis.from_url(self.direct["redis"], socket_timeout=2) as r:
                return bool(r.ping())
        except redis.RedisError:
            return False
