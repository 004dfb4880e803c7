"""Containers as Services, through the docker SDK: the docker side of the service backend.

The same protocol as a local process: start, stop (with a grace period),
kill, pause, resume, restart, logs. Plus what only containers have: leaving
and rejoining a network (the guide's tests 4 and 7), and finding containers
the way Pumba selects them: by name, by compose service label, or by regex.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from chaoslib.errors import ServiceError
from chaoslib.wait import WaitTimeout, wait_until

COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_PROJECT = "com.docker.compose.project"


def docker_client() -> Any:
    """The engine at DOCKER_HOST (or the local socket); a clear error when there is none."""
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        raise ServiceError(
            f"no Docker engine answers ({exc}); start dockerd, or run scripts/docker-test-env.sh up"
        ) from None
    return client


class DockerService:
    kind = "docker"

    def __init__(
        self,
        name: str,
        container: str,
        *,
        client: Any = None,
        stop_grace: float = 10.0,
        start_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.container_name = container
        self.client = client or docker_client()
        self.stop_grace, self.start_timeout = stop_grace, start_timeout

    # -- finding containers --------------------------------------------------------------
    @classmethod
    def find(
        cls,
        *,
        name: str | None = None,
        service: str | None = None,
        project: str | None = None,
        regex: str | None = None,
        client: Any = None,
    ) -> list[DockerService]:
        """Containers by exact name, by compose service (and project) label, or by a name regex
        (Pumba's ``re2:`` selection); all containers, running or not."""
        client = client or docker_client()
        filters: dict[str, Any] = {}
        labels = []
        if service:
            labels.append(f"{COMPOSE_SERVICE}={service}")
        if project:
            labels.append(f"{COMPOSE_PROJECT}={project}")
        if labels:
            filters["label"] = labels
        found = []
        for c in client.containers.list(all=True, filters=filters):
            if name is not None and c.name != name:
                continue
            if regex is not None and not re.search(regex, c.name):
                continue
            label = (c.labels or {}).get(COMPOSE_SERVICE)
            found.append(cls(label or c.name, c.name, client=client))
        return sorted(found, key=lambda s: s.container_name)

    # -- state ---------------------------------------------------------------------------
    @property
    def container(self) -> Any:
        import docker.errors

        try:
            return self.client.containers.get(self.container_name)
        except docker.errors.NotFound:
            raise ServiceError(f"container {self.container_name} does not exist") from None

    def state(self) -> dict[str, Any]:
        c = self.container
        c.reload()
        return dict(c.attrs["State"])

    def is_running(self) -> bool:
        try:
            return bool(self.state().get("Running"))
        except ServiceError:
            return False

    def is_paused(self) -> bool:
        try:
            return bool(self.state().get("Paused"))
        except ServiceError:
            return False

    @property
    def exit_code(self) -> int | None:
        state = self.state()
        return None if state.get("Running") else int(state.get("ExitCode", 0))

    @property
    def pid(self) -> int | None:
        pid = self.state().get("Pid") or 0
        return int(pid) or None

    @property
    def address(self) -> tuple[str, int]:
        return (self.container_name, 0)

    @property
    def url(self) -> str:
        return ""

    @property
    def log_path(self) -> str:
        return ""

    def ip(self, network: str | None = None) -> str | None:
        networks = self.container.attrs["NetworkSettings"]["Networks"]
        for net_name, net in networks.items():
            if network is None or net_name == network:
                return net.get("IPAddress") or None
        return None

    def networks(self) -> list[str]:
        return list(self.container.attrs["NetworkSettings"]["Networks"])

    # -- actions -------------------------------------------------------------------------
    def start(self) -> None:
        if self.is_running():
            return
        self.container.start()
        try:
            wait_until(self._healthy, timeout=self.start_timeout, what=f"{self.name} to run")
        except WaitTimeout:
            raise ServiceError(
                f"container {self.container_name} did not start within {self.start_timeout:g}s",
                log_tail=self.logs_text(tail=20),
            ) from None

    def _healthy(self) -> bool:
        state = self.state()
        health = (state.get("Health") or {}).get("Status")
        if not state.get("Running") and state.get("Status") in ("exited", "dead"):
            raise ServiceError(
                f"container {self.container_name} exited with {state.get('ExitCode')}",
                log_tail=self.logs_text(tail=20),
            )
        return bool(state.get("Running")) and health in (None, "healthy")

    def stop(self, timeout: float | None = None) -> None:
        if self.is_paused():
            self.container.unpause()
        if self.is_running():
            self.container.stop(timeout=int(self.stop_grace if timeout is None else timeout))

    def kill(self, signal: str = "SIGKILL") -> None:
        if self.is_running():
            self.container.kill(signal=signal)

    def pause(self) -> None:
        if self.is_running() and not self.is_paused():
            self.container.pause()

    def resume(self) -> None:
        if self.is_paused():
            self.container.unpause()

    def restart(self, down_for: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.stop()
        sleep(down_for)
        self.start()

    def disconnect(self, network: str) -> None:
        """Leave ``network``: peers can no longer resolve or reach this container."""
        self.client.networks.get(network).disconnect(self.container_name, force=True)

    def connect(self, network: str, aliases: list[str] | None = None) -> None:
        """Rejoin ``network`` under the compose service name again (so DNS finds it)."""
        self.client.networks.get(network).connect(
            self.container_name, aliases=aliases if aliases is not None else [self.name]
        )

    # -- logs ----------------------------------------------------------------------------
    def logs(self, *, follow: bool = False, since: float | None = None) -> Iterator[str]:
        """Lines as ``<RFC 3339 timestamp> <line>``; ``follow`` streams until the container stops."""
        kwargs: dict[str, Any] = {"timestamps": True, "stream": True, "follow": follow}
        if since is not None:
            kwargs["since"] = float(since)
        pending = b""
        for chunk in self.container.logs(**kwargs):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
        if pending:
            yield pending.decode("utf-8", "replace")

    def logs_text(self, tail: int = 50) -> str:
        try:
            return self.container.logs(tail=tail).decode("utf-8", "replace")
        except Exception:
            return ""

    def __repr__(self) -> str:
        return f"DockerService({self.name!r}, container={self.container_name!r})"
