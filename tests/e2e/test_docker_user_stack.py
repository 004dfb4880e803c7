"""chaoslib's overlay on a user's own stack: it adds a proxy and changes nothing the user wrote.

The user's files are ``tests/user_stack/`` (the guide's layout: pg15, a named volume, custom
credentials, a healthcheck, a Redis command with RDB persistence) and the reference system's
``chaoslib/examples/arbees/docker-compose.yml``.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from chaoslib.services.compose_projects import compose_command
from tests.docker_helpers import engine, needs_docker, shop_system, wait_for_data_stores
from tests.helpers import REPO

USER = REPO / "tests" / "user_stack"
OVERLAY = REPO / "docker-compose.chaos.yml"
OBSERVE = REPO / "docker-compose.chaos-observe.yml"
LOCAL_IMAGES = {
    "TOXIPROXY_IMAGE": "chaoslib/toxiproxy:local",
    "REDIS_IMAGE": "chaoslib/redis:local",
    "TIMESCALEDB_IMAGE": "chaoslib/timescaledb:local",
}


def compose(project: str, files: list[Path], *args: str, env: dict[str, str] | None = None):
    argv = [*compose_command(), "-p", project, *(a for f in files for a in ("-f", str(f))), *args]
    return subprocess.run(
        argv, cwd=files[0].parent, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def config(files: list[Path], env: dict[str, str]) -> dict:
    done = compose("cfg", files, "config", env=env)
    assert done.returncode == 0, done.stderr
    return {name: _normal(s) for name, s in yaml.safe_load(done.stdout)["services"].items()}


def _normal(service: dict) -> dict:
    # docker-compose prints extra_hosts as a list for one file and a mapping for several.
    hosts = service.get("extra_hosts")
    if isinstance(hosts, dict):
        service = {**service, "extra_hosts": [f"{k}:{v}" for k, v in hosts.items()]}
    return service


@pytest.mark.parametrize(
    "user_file", [USER / "docker-compose.yml", REPO / "chaoslib/examples/arbees/docker-compose.yml"]
)
def test_the_overlay_leaves_every_key_the_user_wrote_unchanged(user_file):
    env = {"CHAOS_PROXY_CONFIG": str(USER / "toxiproxy.json")}
    before = config([user_file], env)
    after = config([user_file, OVERLAY], env)
    assert set(after) == set(before) | {"toxiproxy"}
    for name, service in before.items():
        assert after[name] == service, f"the overlay changed {name}"
    observed = config([user_file, OVERLAY, OBSERVE], env)
    for name, service in before.items():
        added = {k: v for k, v in observed[name].items() if service.get(k) != v}
        if name in ("redis", "timescaledb"):
            assert set(added) == {"ports"}, added  # a published port, and nothing else
            assert all(str(p).startswith("127.0.0.1:") for p in added["ports"]), added
        else:
            assert not added, f"the observe file changed {name}: {added}"


@pytest.fixture(scope="module")
def client():
    return engine()


@pytest.fixture
def project():
    name = f"chaosuser{uuid.uuid4().hex[:8]}"
    files = [USER / "docker-compose.yml", OVERLAY, OBSERVE]
    env = {**LOCAL_IMAGES, "CHAOS_PROXY_CONFIG": str(USER / "toxiproxy.json"),
           "TOXIPROXY_PORT": "0", "REDIS_HOST_PORT": "0", "POSTGRES_HOST_PORT": "0"}  # fmt: skip
    yield name, files, env
    compose(name, files, "down", "-v", env=env)  # the test is the user: its own project


@needs_docker
def test_a_missing_proxy_config_is_an_error_and_no_directory_is_made(client, project, tmp_path):
    name, files, env = project
    missing = tmp_path / "proxies" / "toxiproxy.json"
    done = compose(
        name, files, "up", "-d", "toxiproxy", env={**env, "CHAOS_PROXY_CONFIG": str(missing)}
    )
    assert done.returncode != 0
    assert "does not exist" in (done.stderr + done.stdout), done.stderr
    assert not missing.exists() and not missing.parent.exists()


def _published(client, project: str, service: str, port: int) -> int:
    found = client.containers.list(filters={"label": [
        f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]})  # fmt: skip
    return int(found[0].attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"])


@needs_docker
def test_a_redis_key_and_a_row_survive_down_and_up_with_the_overlay(client, project):
    import psycopg
    import redis

    name, files, env = project

    def up() -> tuple[str, str]:
        done = compose(name, files, "up", "-d", env=env)
        assert done.returncode == 0, done.stderr
        r_url = f"redis://127.0.0.1:{_published(client, name, 'redis', 6379)}/0"
        pg_url = (f"postgresql://shopuser:shoppass@127.0.0.1:"
                  f"{_published(client, name, 'timescaledb', 5432)}/shop")  # fmt: skip

        wait_for_data_stores(r_url, pg_url)
        return r_url, pg_url

    r_url, pg_url = up()
    with redis.Redis.from_url(r_url) as r:
        r.set("shop:marker", "kept")
        # The user's own command ran: its memory cap and policy are in force.
        assert r.config_get("maxmemory")["maxmemory"] == str(64 * 1024 * 1024)
        assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the user's role exists
        conn.execute("CREATE TABLE marker (note text)")
        conn.execute("INSERT INTO marker VALUES ('kept')")
    done = compose(name, files, "down", env=env)  # no -v: the user's volumes stay
    assert done.returncode == 0, done.stderr
    r_url, pg_url = up()
    with redis.Redis.from_url(r_url) as r:
        assert r.get("shop:marker") == b"kept"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT note FROM marker").fetchall() == [("kept",)]


@needs_docker
def test_attaching_refuses_observer_ports_that_move_at_every_restart(client, project, tmp_path):
    from chaoslib.errors import ConfigError

    name, files, env = project
    done = compose(name, files, "up", "-d", env=env)  # ports 0: docker picks them
    assert done.returncode == 0, done.stderr
    system = shop_system(tmp_path, files, name, USER / "toxiproxy.json")
    assert system.is_running()  # attached, not created
    with pytest.raises(ConfigError, match="publish a fixed port"):
        system.up()
    assert not system.owned


@needs_docker
def test_creating_a_project_without_its_proxy_config_fails_before_up(client, tmp_path):
    from chaoslib.errors import ConfigError
    from chaoslib.services.compose_projects import CreatedProjects

    missing = tmp_path / "proxies" / "toxiproxy.json"
    files = [USER / "docker-compose.yml", OVERLAY]
    system = shop_system(tmp_path, files, f"chaosnone{uuid.uuid4().hex[:8]}", missing)
    assert not system.is_running()
    with pytest.raises(ConfigError, match="does not exist"):
        system.up()
    assert not missing.exists() and not missing.parent.exists()
    assert CreatedProjects(tmp_path).all() == []  # nothing was created, nothing recorded


@needs_docker
def test_a_stopped_project_of_the_users_is_never_created_over(client, project, tmp_path):
    from chaoslib.errors import ConfigError
    from chaoslib.services.compose_projects import CreatedProjects

    name, files, env = project
    done = compose(name, files, "up", "-d", env=env)
    assert done.returncode == 0, done.stderr
    compose(name, files, "stop", "toxiproxy", env=env)  # e.g. after a reboot, no restart policy
    system = shop_system(tmp_path, files, name, USER / "toxiproxy.json")
    assert not system.is_running()
    with pytest.raises(ConfigError, match="chaoslib creates only projects that do not exist"):
        system.up()
    assert CreatedProjects(tmp_path).all() == []  # never counted as chaoslib's
    states = {c.name: c.status for c in client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={name}"})}  # fmt: skip
    assert sorted(states.values()) == ["exited", "running", "running"], states  # as it was
