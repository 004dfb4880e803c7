"""docker-compose mode on a real engine: the overlay validates, its proxy slows a real client in
another container, and the guide's scenarios run with --profile compose (and can fail)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from chaoslib.profiles import load_profile
from chaoslib.scenarios.suite import Suite, SuiteConfig
from chaoslib.target.compose_system import compose_command
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.docker_helpers import engine, needs_docker
from tests.helpers import REPO

pytestmark = needs_docker

FILES = load_profile("compose").compose.files  # type: ignore[union-attr]
# The Compose Specification's JSON schema, as the docker-compose package ships it.
SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")


@pytest.fixture(scope="module")
def client():
    return engine()


def _yaml(path: str) -> dict:
    import yaml

    return yaml.safe_load((REPO / path).read_text())


@pytest.mark.parametrize("path", [*FILES])
def test_each_compose_file_validates_against_the_compose_specification(client, path):
    import jsonschema

    assert SCHEMA.exists(), (
        f"{SCHEMA} is missing: install docker-compose (scripts/docker-test-env.sh)"
    )
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(_yaml(path))


def test_compose_accepts_the_files_together(client):
    done = subprocess.run(
        [*compose_command(), *(a for f in FILES for a in ("-f", f)), "config", "-q"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_toxic_on_the_overlays_proxy_slows_a_client_in_another_container(client, tmp_path):
    project = f"chaostest{int(time.time() * 1000) % 10**8}"
    env = {
        "TOXIPROXY_IMAGE": "chaoslib/toxiproxy:local",
        "REDIS_IMAGE": "chaoslib/redis:local",
        "TIMESCALEDB_IMAGE": "chaoslib/timescaledb:local",
        "TOXIPROXY_PORT": "0",
        "CHAOS_ALERT_DIR": str(tmp_path),
    }
    import os

    base = [*compose_command(), "-p", project, "-f", FILES[0], "-f", FILES[1]]
    run_env = {**os.environ, **env, "CHAOS_PROXY_CONFIG": str(REPO / "proxies/toxiproxy.json")}
    up = subprocess.run([*base, "up", "-d", "toxiproxy", "redis"], cwd=REPO, env=run_env,
                        capture_output=True, text=True)  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        proxy = client.containers.list(filters={"label": [f"com.docker.compose.project={project}",
                                                          "com.docker.compose.service=toxiproxy"]})[0]  # fmt: skip
        port = proxy.attrs["NetworkSettings"]["Ports"]["8474/tcp"][0]["HostPort"]
        api = Toxiproxy(f"http://127.0.0.1:{port}")
        wait_until(api.is_running, timeout=30, what="the proxy's API")
        assert api.version() == "2.12.0"
        network = f"{project}_default"
        ping = ["sh", "-c", "redis-cli -h toxiproxy -p 6379 ping >/dev/null; "
                "python3 -c \"import time,subprocess; t=time.time(); "
                "subprocess.run(['redis-cli','-h','toxiproxy','-p','6379','ping']); print(time.time()-t)\""]  # fmt: skip

        def timed() -> float:
            out = client.containers.run("chaoslib/base:local", ping, network=network, remove=True)
            return float(out.decode().split()[-1])

        wait_until(lambda: timed() < 1, timeout=30, what="redis through the proxy")
        api.add_toxic("redis", "latency", attributes={"latency": 400})
        slow = timed()
        api.reset()
        fast = timed()
        assert slow >= 0.4 and fast < 0.3, (slow, fast)
    finally:
        subprocess.run([*base, "down", "-v"], cwd=REPO, env=run_env, capture_output=True)


# The nine scenarios run on a project the user brought up (test_docker_attached.py); here
# chaoslib creates the project itself, and must take it down again.
REQUIRED = "shard-crash,orchestrator-partition"


def test_a_project_chaoslib_creates_passes_and_is_taken_down_again(client, tmp_path):
    result = Suite(
        SuiteConfig(profile="compose", only=REQUIRED, report_dir=tmp_path / "r", home=tmp_path)
    ).run()
    failing = [
        (j.experiment, v.name, v.evidence)
        for j in result.journals
        for v in (*j.steady_state, *j.verdicts)
        if not v.passed
    ]
    assert result.status == "passed", (result.error, failing)
    assert [j.experiment for j in result.journals] == ["steady-state", *REQUIRED.split(",")]
    assert not client.containers.list(
        all=True, filters={"label": "com.docker.compose.project=chaos-arbees"}
    )  # the project is down again
    from chaoslib.services.compose_projects import CreatedProjects

    assert CreatedProjects(tmp_path / "suite").all() == []  # and its record gone


def test_a_fragile_flag_fails_its_scenario_in_compose_too(client, tmp_path):
    result = Suite(
        SuiteConfig(
            profile="compose", only="shard-crash", fragile="no-reassign",
            report_dir=tmp_path / "r", home=tmp_path,
        )
    ).run()  # fmt: skip
    verdict = result.verdict("shard-crash", "reassign")
    assert result.status == "failed" and verdict is not None
    assert verdict.status == "fail" and "never reached shard_02" in verdict.evidence


def test_fault_tasks_work_against_a_running_compose_project(client, tmp_path):
    from chaoslib.target.compose_system import ComposeSystem
    from tests.helpers import run_invoke

    system = ComposeSystem(load_profile("compose"), "fast", tmp_path / "work", home=tmp_path)
    try:
        system.up()
        for task in ("chaos.db-down", "chaos.redis-down", "chaos.db-slow"):
            done = run_invoke(
                tmp_path / "home", task, "--profile", "compose", "--duration", "1", timeout=120
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert "recovered" in done.stdout, done.stdout
        cut = run_invoke(
            tmp_path / "home", "chaos.partition", "--client", "orchestrator", "--service",
            "redis", "--profile", "compose", "--duration", "1", timeout=120,
        )  # fmt: skip
        assert cut.returncode == 0, cut.stdout + cut.stderr
        assert "on redis-orchestrator [both] (per-client proxy)" in cut.stdout, cut.stdout
        experiment = REPO / "experiments" / "redis-flap-while-db-slow.yml"
        done = run_invoke(tmp_path / "home", "chaos.run", str(experiment), "--profile", "compose",
                          "--journal", str(tmp_path / "j.json"), timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads((tmp_path / "j.json").read_text())["status"] == "passed"
        proxies = system.toxiproxy.proxies()
        assert all(p.enabled for p in proxies.values())
        assert all(not system.toxiproxy.toxics(name) for name in proxies)
    finally:
        system.down()
