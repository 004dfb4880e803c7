"""The suite attached to a compose project the user brought up: it measures the system and
leaves the user's data, containers and project exactly as they were.

The user here runs the reference system's compose files with chaoslib's overlay, as the
README's docker section says, with a marker key and a marker table of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from chaoslib.profiles import load_profile
from chaoslib.services.compose_projects import compose_command
from chaoslib.services.managed import pick_free_port
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.docker_helpers import engine, needs_docker, wait_for_data_stores
from tests.helpers import REPO

pytestmark = needs_docker

FILES = [
    REPO / "chaoslib/examples/arbees/docker-compose.yml",
    REPO / "docker-compose.chaos.yml",
    REPO / "docker-compose.chaos-observe.yml",
    REPO / "chaoslib/examples/arbees/docker-compose.chaos-links.yml",
]


class UserProject:
    """What a user does by hand: their env, ``up -d``, and ``down`` when *they* decide."""

    def __init__(self, tmp: Path) -> None:
        self.name = f"chaosuser{uuid.uuid4().hex[:8]}"
        self.webhook_port = pick_free_port()
        self.alerts = tmp / "alerts"
        self.alerts.mkdir()
        env_file = tmp / "timings.env"
        fast = load_profile("compose").env_for("fast")
        env_file.write_text("".join(f"{k}={v}\n" for k, v in fast.items()))
        self.env = {
            "TOXIPROXY_IMAGE": "chaoslib/toxiproxy:local",
            "REDIS_IMAGE": "chaoslib/redis:local",
            "TIMESCALEDB_IMAGE": "chaoslib/timescaledb:local",
            "ARBEES_IMAGE": "chaoslib/app:local",
            "CHAOS_PROXY_CONFIG": str(REPO / "proxies/arbees-compose.json"),
            "CHAOS_ENV_FILE": str(env_file),
            "CHAOS_ALERT_DIR": str(self.alerts),
            "CHAOS_WEBHOOK_URL": f"http://host.docker.internal:{self.webhook_port}/",
            "TOXIPROXY_PORT": str(pick_free_port()),
            "REDIS_HOST_PORT": str(pick_free_port()),
            "POSTGRES_HOST_PORT": str(pick_free_port()),
        }
        self.profile = tmp / "my-stack.yml"
        self.profile.write_text(
            f"""extends: compose
name: my-stack
description: the reference system as a user runs it, attached to
compose:
  files: [{", ".join(str(f) for f in FILES)}]
  project: {self.name}
  proxy_config: {REPO / "proxies/arbees-compose.json"}
  database_url: "postgresql://arbees:arbees@{{host}}:{{port}}/arbees_db"
  alert_file: {self.alerts / "critical_alerts.log"}
  webhook_port: {self.webhook_port}
  # The signal stream and the consumer's marks start afresh with each scenario.
  reset_keys: ["signals:*"]
"""
        )

    def compose(self, *args: str) -> subprocess.CompletedProcess:
        argv = [*compose_command(), "-p", self.name, *(a for f in FILES for a in ("-f", str(f)))]
        return subprocess.run(
            [*argv, *args], cwd=FILES[0].parent, env={**os.environ, **self.env},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    def containers(self, client) -> dict[str, object]:  # noqa: ANN001
        found = client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.name}"}
        )
        return {c.labels["com.docker.compose.service"]: c for c in found}

    def url(self, client, service: str, port: int) -> str:  # noqa: ANN001
        container = self.containers(client)[service]
        container.reload()
        return container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"]


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    client = engine()
    project = UserProject(tmp_path_factory.mktemp("user"))
    done = project.compose("up", "-d")
    assert done.returncode == 0, done.stderr
    try:
        r_url = f"redis://127.0.0.1:{project.url(client, 'redis', 6379)}/0"
        pg_url = f"postgresql://arbees:arbees@127.0.0.1:{project.url(client, 'timescaledb', 5432)}/arbees_db"

        wait_for_data_stores(r_url, pg_url, timeout=90)
        with redis.Redis.from_url(r_url) as r:
            r.set("user:marker", "mine")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE user_marker (note text)")
            conn.execute("INSERT INTO user_marker VALUES ('mine')")
        yield project, client, r_url, pg_url
    finally:
        project.compose("down", "-v")  # the user's own decision, at the very end


def test_the_suite_attached_to_a_users_project_passes_and_keeps_their_data(user, tmp_path):
    from chaoslib.scenarios.suite import Suite, SuiteConfig

    project, client, r_url, pg_url = user
    before = {name: c.id for name, c in project.containers(client).items()}
    result = Suite(
        SuiteConfig(profile=str(project.profile), report_dir=tmp_path / "r", home=tmp_path)
    ).run()
    failing = [
        (j.experiment, v.name, v.status, v.evidence)
        for j in result.journals
        for v in (*j.steady_state, *j.verdicts)
        if not v.passed
    ]
    assert result.status == "passed", (result.error, failing)
    assert len(result.journals) == 10  # the quiet period and the nine scenarios
    with redis.Redis.from_url(r_url) as r:
        assert r.get("user:marker") == b"mine"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT note FROM user_marker").fetchall() == [("mine",)]
    after = project.containers(client)
    assert {name: c.id for name, c in after.items()} == before  # none removed or recreated
    assert all(c.status == "running" for c in after.values()), {
        n: c.status for n, c in after.items()
    }
    api = Toxiproxy(f"http://127.0.0.1:{project.url(client, 'toxiproxy', 8474)}")
    assert all(p.enabled for p in api.proxies().values())
    assert not any(api.toxics(name) for name in api.proxies())


def _state(project: UserProject, client) -> tuple[dict[str, str], list[str], list[str]]:  # noqa: ANN001
    """Container states, disabled proxies, and toxics on the user's project."""
    states = {name: c.status for name, c in project.containers(client).items()}
    api = Toxiproxy(f"http://127.0.0.1:{project.url(client, 'toxiproxy', 8474)}")
    proxies = api.proxies()
    disabled = sorted(name for name, p in proxies.items() if not p.enabled)
    toxics = sorted(t.name for name in proxies for t in api.toxics(name))
    return states, disabled, toxics


def _kill_when(proc: subprocess.Popen, ready, what: str) -> None:  # noqa: ANN001
    import signal

    try:
        wait_until(lambda: proc.poll() is not None or ready(), timeout=180, what=what)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)


@pytest.mark.parametrize(
    ("scenario", "moment"),
    [("shard-crash", "a shard stopped"), ("db-drop", "every database link cut")],
)
def test_chaos_reset_after_a_sigkill_mid_scenario_restores_the_users_project(
    user, tmp_path, scenario, moment
):
    from tests.helpers import run_invoke, subprocess_env

    project, client, _, _ = user
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "chaos.scenario", scenario, "--profile",
         str(project.profile), "--report-dir", str(tmp_path / "r")],
        cwd=REPO, env=subprocess_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip

    def faulted() -> bool:
        states, disabled, _ = _state(project, client)
        if scenario == "shard-crash":
            return states.get("shard_01") == "exited"
        return {"db-orchestrator", "db-shard_01", "db-shard_02"} <= set(disabled)

    _kill_when(proc, faulted, moment)
    assert faulted(), "the SIGKILL came after the fault was healed"
    done = run_invoke(home, "chaos.reset", "--profile", str(project.profile), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    states, disabled, toxics = _state(project, client)
    assert set(states.values()) == {"running"}, states
    assert disabled == [] and toxics == [], (disabled, toxics)
    again = run_invoke(home, "chaos.reset", timeout=60)
    assert again.returncode == 0 and "FAILED" not in again.stdout, again.stdout


def test_chaos_reset_exits_non_zero_while_a_fault_cannot_be_healed(user, tmp_path):
    from tests.helpers import run_invoke, subprocess_env

    project, client, _, _ = user
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "chaos.db-down", "--profile", str(project.profile),
         "--duration", "120"],
        cwd=REPO, env=subprocess_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    _kill_when(proc, lambda: "db-shard_01" in _state(project, client)[1], "the database cut")
    proxy = project.containers(client)["toxiproxy"]
    proxy.pause()  # its API cannot answer: the cut cannot be healed now
    try:
        done = run_invoke(home, "chaos.reset", timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr
        said = " ".join(done.stdout.split())  # the console wraps long lines
        assert "FAILED to heal link down" in said and "kept for the next reset" in said, said
    finally:
        proxy.unpause()
    done = run_invoke(home, "chaos.reset", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _state(project, client)[1] == []


def _root_qdisc(container) -> str:  # noqa: ANN001
    container.reload()
    pid = str(container.attrs["State"]["Pid"])
    shown = subprocess.run(
        ["nsenter", "-t", pid, "-n", "tc", "qdisc", "show", "dev", "eth0", "root"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return shown.stdout


def test_chaos_reset_after_a_sigkill_during_a_tbf_fault_removes_the_qdisc(user, tmp_path):
    from tests.helpers import run_invoke, subprocess_env

    project, client, _, _ = user
    home = tmp_path / "home"
    redis_container = project.containers(client)["redis"]
    assert "tbf" not in _root_qdisc(redis_container)
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "chaos.packet", "--profile", str(project.profile),
         "--service", "redis", "--kind", "rate", "--value", "800", "--duration", "120"],
        cwd=REPO, env=subprocess_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    _kill_when(proc, lambda: "tbf" in _root_qdisc(redis_container), "the tbf qdisc")
    assert "tbf" in _root_qdisc(redis_container)
    done = run_invoke(home, "chaos.reset", "--profile", str(project.profile), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tbf" not in _root_qdisc(redis_container)
    assert _state(project, client)[1:] == ([], [])


@pytest.mark.parametrize("containers", [(), ("0" * 64,)], ids=["cut-short-up", "other-ids"])
def test_a_forged_created_record_never_takes_the_users_project_down(user, tmp_path, containers):
    from chaoslib.services.compose_projects import CreatedProject, CreatedProjects
    from tests.helpers import run_invoke

    project, client, r_url, _ = user
    forged = CreatedProject(
        project.name, tuple(str(f) for f in FILES), str(FILES[0].parent), {},
        containers=containers,
    )  # fmt: skip
    CreatedProjects(tmp_path / "home").record(forged)  # as if chaoslib had created it just now
    done = run_invoke(tmp_path / "home", "chaos.reset", timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not the project chaoslib created" in done.stdout, done.stdout
    assert set(_state(project, client)[0].values()) == {"running"}
    with redis.Redis.from_url(r_url) as r:
        assert r.get("user:marker") == b"mine"
    assert CreatedProjects(tmp_path / "home").all() == []  # the record is dropped, not retried


def test_attaching_with_timings_the_project_does_not_run_is_refused(user, tmp_path):
    from chaoslib.errors import ConfigError
    from chaoslib.target.compose_system import ComposeSystem

    project, _, _, _ = user
    system = ComposeSystem(load_profile(project.profile), "seed", tmp_path / "w", home=tmp_path)
    assert system.is_running()
    with pytest.raises(ConfigError, match="runs with .*but timing 'seed'"):
        system.up()
