"""The chaos tasks as a newcomer runs them: `invoke chaos.*` against `invoke stack.up`."""

from __future__ import annotations

import json
import subprocess

import pytest

from chaoslib import stack as stack_mod
from chaoslib.stack import StackConfig
from chaoslib.toxiproxy import Toxiproxy
from tests.helpers import REPO, run_invoke, spawn_python


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("tasks-home")
    stack_mod.up(StackConfig(home=home))
    yield home
    stack_mod.down(home)


def invoke(home, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_invoke(home, *args, timeout=timeout)


def proxies(home):
    stack = stack_mod.Stack.load(home)
    return Toxiproxy(stack.proxy_url).proxies()


def test_redis_down_heals_and_reports_recovery(home):
    result = invoke(home, "chaos.redis-down", "--duration", "1", "--recover-within", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applied: link down: redis" in result.stdout
    assert "✅ redis recovered within 5s" in result.stdout
    assert all(p.enabled for p in proxies(home).values())


def test_db_slow_applies_latency_both_ways_and_heals(home):
    result = invoke(home, "chaos.db-slow", "--latency", "200", "--jitter", "10", "--duration", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "latency(latency=200, jitter=10) on timescaledb [upstream+downstream]" in result.stdout
    assert all(not p.toxics for p in proxies(home).values())


def test_redis_flap_and_bandwidth(home):
    flap = invoke(home, "chaos.redis-flap", "--period", "0.5", "--down", "0.2", "--cycles", "2")
    assert flap.returncode == 0, flap.stdout + flap.stderr
    assert flap.stdout.count("redis link down") == 2
    bandwidth = invoke(
        home, "chaos.bandwidth", "--link", "redis", "--rate", "50", "--duration", "0.5"
    )
    assert bandwidth.returncode == 0, bandwidth.stdout + bandwidth.stderr


def test_a_target_that_does_not_recover_fails_the_task(home):
    redis_server = stack_mod.Stack.load(home).services["redis"]
    redis_server.pause()
    try:
        result = invoke(home, "chaos.redis-down", "--duration", "0.5", "--recover-within", "1")
    finally:
        redis_server.resume()
    assert result.returncode == 1
    assert "❌ redis recovered within 1s" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chaos.db-slow", "--latency", "slow"], "--latency='slow' is not a whole number"),
        (["chaos.redis-down", "--duration", "-1"], "--duration='-1' is too small"),
        (["chaos.redis-flap", "--period", "1", "--down", "2"], "must be shorter than --period"),
        (["chaos.bandwidth", "--rate", "10"], "--link is required"),
        (
            ["chaos.bandwidth", "--link", "mongo", "--rate", "10", "--duration", "1"],
            "unknown link 'mongo'",
        ),
    ],
)
def test_bad_flags_say_what_is_wrong(home, args, message):
    result = invoke(home, *args)
    assert result.returncode != 0
    assert message in result.stderr


def test_run_a_yaml_experiment_and_write_its_journal(home, tmp_path):
    journal = tmp_path / "journal.json"
    result = invoke(
        home,
        "chaos.run",
        str(REPO / "experiments" / "redis-partition-under-load.yml"),
        "--journal",
        str(journal),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(journal.read_text())
    assert data["status"] == "passed"
    assert {c["name"] for c in data["checks"]} >= {"stream: no lost or duplicated messages"}


def test_run_rejects_a_bad_file_before_anything_runs(home, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nfaults:\n  - {name: a, type: down, link: nope, for: 1}\n")
    result = invoke(home, "chaos.run", str(bad))
    assert result.returncode == 2
    assert f"{bad}:3: faults[0].link: unknown link 'nope'" in result.stderr


def test_tasks_without_a_stack_say_how_to_start_one(tmp_path):
    result = invoke(tmp_path / "empty", "chaos.redis-down", "--duration", "1")
    assert result.returncode == 1
    assert "No stack is running. Start one with: invoke stack.up" in result.stderr


def test_reset_with_nothing_to_do(tmp_path):
    result = invoke(tmp_path / "empty", "chaos.reset")
    assert result.returncode == 0
    assert "Nothing to reset" in result.stdout


def test_duration_zero_holds_until_ctrl_c_and_then_heals(home):
    import signal

    from chaoslib.wait import wait_until

    proc = spawn_python(home, "-m", "invoke", "chaos.redis-down", "--duration", "0")
    try:
        wait_until(
            lambda: not proxies(home)["redis"].enabled, timeout=30, what="the link to go down"
        )
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert "Holding the fault until Ctrl-C" in out and "✅ redis recovered" in out
    assert proxies(home)["redis"].enabled


def test_db_slow_with_a_pattern_uses_pg_query_and_heals(home):
    result = invoke(
        home,
        "chaos.db-slow",
        "--pattern",
        "INSERT INTO game_states",
        "--latency",
        "300",
        "--duration",
        "0.5",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pg_query(pattern=INSERT INTO game_states, action=delay, delay_ms=300)" in result.stdout
    assert all(not p.toxics for p in proxies(home).values())


def test_partition_cuts_one_client_address_and_the_others_keep_working(home):
    result = invoke(
        home, "chaos.partition", "--client", "127.0.0.2", "--service", "redis", "--duration", "0.5"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "✅ redis 127.0.0.2 cut no answer" in out
    assert "✅ redis 127.0.0.3 works answered" in out
    assert "✅ timescaledb 127.0.0.1 works answered" in out
    assert "After the heal: every probe answered" in out
    assert all(not p.toxics for p in proxies(home).values())


def test_partition_refuses_an_unknown_client_saying_what_is_accepted(home):
    result = invoke(home, "chaos.partition", "--client", "shard9", "--service", "redis")
    assert result.returncode == 2
    assert "is not an IP address or CIDR" in result.stdout + result.stderr


def test_run_an_experiment_with_statement_faults(home, tmp_path):
    journal = tmp_path / "journal.json"
    result = invoke(
        home,
        "chaos.run",
        str(REPO / "experiments" / "slow-writes-readonly-redis.yml"),
        "--journal",
        str(journal),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(journal.read_text())
    assert data["status"] == "passed", data
    assert all(not p.toxics for p in proxies(home).values())


# -- protected environments -------------------------------------------------------------

PROTECTED = "extends: local\nname: prod\ndescription: pretend production\nprotected: true\n"
REFUSED = "refusing to inject faults: profile 'prod' is marked protected: true"


@pytest.fixture
def protected_profile(tmp_path):
    path = tmp_path / "prod.yml"
    path.write_text(PROTECTED)
    return str(path)


@pytest.mark.parametrize(
    "args",
    [
        ("chaos.redis-down", "--duration", "1"),
        ("chaos.db-down", "--duration", "1"),
        ("chaos.db-slow", "--duration", "1"),
        ("chaos.redis-flap", "--cycles", "1"),
        ("chaos.bandwidth", "--link", "redis", "--rate", "10", "--duration", "1"),
        ("chaos.partition", "--client", "127.0.0.2", "--service", "redis"),
        ("chaos.run", "experiments/redis-flap-while-db-slow.yml"),
        ("chaos.suite",),
        ("chaos.scenario", "db-slow"),
    ],
    ids=lambda args: args[0],
)
def test_every_fault_task_refuses_a_protected_profile_and_touches_nothing(
    home, protected_profile, args
):
    before = {name: (p.enabled, p.toxics) for name, p in proxies(home).items()}
    result = invoke(home, *args, "--profile", protected_profile)
    assert result.returncode == 2, result.stdout + result.stderr
    assert REFUSED in result.stderr and "--force" in result.stderr
    assert {name: (p.enabled, p.toxics) for name, p in proxies(home).items()} == before
    assert not stack_mod.Stack.load(home).services["redis"].is_paused()


def test_force_runs_the_fault_on_a_protected_profile_and_says_so(home, protected_profile):
    result = invoke(
        home, "chaos.redis-down", "--duration", "0.5", "--profile", protected_profile, "--force"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applied: link down: redis" in result.stdout
    assert "profile prod is protected; injecting faults because of --force" in result.stderr
    assert all(p.enabled for p in proxies(home).values())


def test_the_library_refuses_too_unless_forced(home, protected_profile):
    from chaoslib.environment import Environment
    from chaoslib.errors import ProtectedError
    from chaoslib.suite import Suite, SuiteConfig

    with pytest.raises(ProtectedError, match="protected: true"):
        Environment.from_profile(protected_profile, home)
    with pytest.raises(ProtectedError):
        Suite(SuiteConfig(profile=protected_profile, home=home))
    assert Environment.from_profile(protected_profile, home, force=True).link("redis")
