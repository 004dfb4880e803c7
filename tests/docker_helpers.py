"""Real containers for the docker-mode tests (CHAOS_DOCKER_TESTS=1, after scripts/docker-test-env.sh up)."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

import pytest

ENABLED = os.environ.get("CHAOS_DOCKER_TESTS") == "1"
IMAGES = (
    "chaoslib/base:local",
    "chaoslib/app:local",
    "chaoslib/toxiproxy:local",
    "chaoslib/redis:local",
    "chaoslib/timescaledb:local",
)
needs_docker = pytest.mark.skipif(
    not ENABLED,
    reason="docker-mode tests: run scripts/docker-test-env.sh up, then CHAOS_DOCKER_TESTS=1 (CI does)",
)


def engine():
    """The engine and the local images, or a failure that says what is missing (never a skip)."""
    from chaoslib.services.docker import docker_client

    client = docker_client()
    missing = []
    for image in IMAGES:
        try:
            client.images.get(image)
        except Exception:
            missing.append(image)
    if missing:
        pytest.fail(f"images missing: {', '.join(missing)}; run scripts/docker-test-env.sh up")
    return client


class Containers:
    """Containers on a private network of their own, all removed at the end."""

    def __init__(self, client) -> None:  # noqa: ANN001 - a docker client
        self.client = client
        self.network = f"chaostest-{uuid.uuid4().hex[:8]}"
        client.networks.create(self.network, driver="bridge")
        self.made: list = []

    def run(self, name: str, command: list[str], image: str = "chaoslib/base:local", **kwargs):
        full = f"{self.network}-{name}"
        container = self.client.containers.run(
            image, command, name=full, hostname=name, network=self.network, detach=True,
            init=True, cap_add=["NET_ADMIN"], **kwargs,
        )  # fmt: skip
        self.client.networks.get(self.network).disconnect(full)
        self.client.networks.get(self.network).connect(full, aliases=[name])
        self.made.append(container)
        return full

    def exec(self, name: str, *argv: str) -> tuple[int, str]:
        container = self.client.containers.get(f"{self.network}-{name}")
        code, out = container.exec_run(list(argv))
        return code, out.decode("utf-8", "replace")

    def close(self) -> None:
        for container in self.made:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        self.client.networks.get(self.network).remove()


def wait_for_data_stores(redis_url: str, database_url: str, timeout: float = 60) -> None:
    """Until a Redis PING and a PostgreSQL connect both succeed (a user's fresh project)."""
    import psycopg
    import redis

    from chaoslib.wait import wait_until

    def answers() -> bool:
        try:
            with (
                redis.Redis.from_url(redis_url) as r,
                psycopg.connect(database_url, connect_timeout=2),
            ):
                return bool(r.ping())
        except (redis.RedisError, psycopg.Error):
            return False

    wait_until(answers, timeout=timeout, what="the user's redis and database")


def shop_system(tmp_path, files: list, project: str, proxy_config) -> Any:  # noqa: ANN001
    """A ComposeSystem for a profile of the user's own shop stack (``tests/user_stack``)."""
    from chaoslib.profiles import load_profile
    from chaoslib.target.compose_system import ComposeSystem

    profile = tmp_path / "shop.yml"
    profile.write_text(
        f"extends: compose\nname: shop\ncompose:\n  files: [{', '.join(map(str, files))}]\n"
        f"  project: {project}\n  proxy_config: {proxy_config}\n"
        '  database_url: "postgresql://shopuser:shoppass@{host}:{port}/shop"\n'
    )
    return ComposeSystem(load_profile(profile), "fast", tmp_path / "w", home=tmp_path)
