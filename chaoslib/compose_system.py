"""The system under test as a docker-compose project: the user's files plus chaoslib's overlay.

The project is brought up with the profile's files; Redis and PostgreSQL are
reached directly on their published loopback ports (for observers), the
services through the proxies of the toxiproxy container (for faults). Each
service's container log is followed into ``<workdir>/logs/<service>.log``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from loguru import logger

from chaoslib.errors import ConfigError, ServiceError
from chaoslib.profile import ComposeDef, Profile
from chaoslib.services.docker import DockerService, docker_client
from chaoslib.services.docker_logs import LogFollower
from chaoslib.services.managed import pick_free_port
from chaoslib.system import REPO, SystemBase
from chaoslib.toxiproxy import Toxiproxy
from chaoslib.wait import wait_until


def compose_command() -> list[str]:
    """``docker-compose`` (v1) or ``docker compose`` (v2), whichever is installed."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    raise ConfigError("neither docker-compose nor the docker compose plugin is installed")


def compose_path(path: str) -> Path:
    """A profile's compose file: ``$VARS`` expanded; relative paths from the checkout."""
    expanded = Path(os.path.expandvars(path))
    return expanded if expanded.is_absolute() else REPO / expanded


def bridge_gateway(client: Any) -> str:
    """The host's address on docker's default bridge: what ``host-gateway`` resolves to."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    # The engine leaves it out when it is the subnet's first address (docker0's).
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


class ComposeSystem(SystemBase):
    def __init__(self, profile: Profile, timing: str, workdir: Path, **kwargs: Any) -> None:
        super().__init__(profile, timing, workdir, **kwargs)
        if profile.compose is None:
            raise ConfigError(f"profile {profile.name} has no compose section")
        self.compose: ComposeDef = profile.compose
        self.client = docker_client()
        # Fixed host ports: a restarted container keeps them (a random one would move).
        self.api_port, self.redis_port, self.pg_port = (pick_free_port() for _ in range(3))
        self.toxiproxy = Toxiproxy(f"http://127.0.0.1:{self.api_port}")
        self.direct = {}
        self.followers: dict[str, LogFollower] = {}
        self._stack: dict[str, DockerService] = {}

    # -- the project ---------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env_file = self.workdir / "chaos.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self.timing.env.items()))
        (self.workdir / "alerts").mkdir(parents=True, exist_ok=True)
        return {
            **self.compose.env,
            **os.environ,
            "CHAOS_ENV_FILE": str(env_file),
            "CHAOS_ALERT_DIR": str(self.workdir / "alerts"),
            "CHAOS_PROXY_CONFIG": str(compose_path(self.compose.proxy_config)),
            "TOXIPROXY_PORT": str(self.api_port),
            "REDIS_HOST_PORT": str(self.redis_port),
            "POSTGRES_HOST_PORT": str(self.pg_port),
            "SLACK_WEBHOOK_URL": self.webhook_url,
            "FRAGILE": self.fragile,
        }

    def run(self, *args: str, timeout: float = 300) -> str:
        files = [a for f in self.compose.files for a in ("-f", str(compose_path(f)))]
        argv = [*compose_command(), "-p", self.compose.project, *files, *args]
        done = subprocess.run(
            argv, cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise ServiceError(
                f"{' '.join(argv[:1] + list(args))} failed ({done.returncode})",
                log_tail=(done.stderr or done.stdout)[-3000:],
            )
        return done.stdout

    def _container(self, service: str) -> DockerService:
        found = DockerService.find(
            service=service, project=self.compose.project, client=self.client
        ) or DockerService.find(name=service, client=self.client)  # a container_name
        if not found:
            raise ServiceError(
                f"compose service {service} has no container in {self.compose.project}"
            )
        return DockerService(service, found[0].container_name, client=self.client)

    def up(self) -> None:
        """Start the whole project (stack and services) and wait for the proxy's API."""
        self.alert_log = self.workdir / "alerts" / "critical_alerts.log"
        logger.info("docker-compose up: project {}", self.compose.project)
        self.run("up", "-d", "--remove-orphans")
        self._stack = {
            "redis": self._container(self.compose.redis),
            "postgres": self._container(self.compose.postgres),
            "toxiproxy": self._container(self.compose.toxiproxy),
        }
        self.direct = {
            "redis": f"redis://127.0.0.1:{self.redis_port}/0",
            "postgres": self.compose.database_url.format(host="127.0.0.1", port=self.pg_port),
        }
        wait_until(self.toxiproxy.is_running, timeout=60, what="the toxiproxy container's API")
        for name in self.profile.services:
            self.followers[name] = LogFollower(self.service(name), self.log_path(name)).start()

    def down(self) -> None:
        for follower in self.followers.values():
            follower.stop()
        try:
            self.run("down", "-v", "--remove-orphans", timeout=180)
        except ServiceError as exc:
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

    def stop_all(self) -> None:
        for name in self.profile.services:
            self.service(name).stop(timeout=5)

    def reset(self) -> None:
        self.stop_all()
        self.toxiproxy.reset()
        for name in ("redis", "postgres"):  # a scenario may have stopped them; start them again
            self._stack[name].start()
        wait_until(self._redis_answers, timeout=30, what="redis after the reset")
        self._flush()
        self.start_all()

    def _redis_answers(self) -> bool:
        import redis

        try:
            with redis.Redis.from_url(self.direct["redis"], socket_timeout=2) as r:
                return bool(r.ping())
        except redis.RedisError:
            return False
