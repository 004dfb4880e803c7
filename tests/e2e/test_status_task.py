"""``chaos status``: the ledger's faults and the proxy's live toxics, during real runs."""

from __future__ import annotations

import json
import signal

import pytest

from chaoslib.services.stack import Stack
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.e2e.test_service_tasks import chaos, spawn_chaos
from tests.helpers import run_invoke, spawn_python


@pytest.fixture(scope="module")
def home(stack_home):
    return stack_home


def proxy(home) -> Toxiproxy:
    return Toxiproxy(Stack.load(home).proxy_url)


def status(home) -> dict:
    result = chaos(home, "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_nothing_running_names_where_it_looked(home):
    result = chaos(home, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    url = Stack.load(home).proxy_url
    assert "Nothing running: no fault in the ledger" in result.stdout
    assert str(home / "ledger.json") in result.stdout and url in result.stdout


def test_without_a_stack_it_says_there_is_none_and_where(tmp_path):
    result = chaos(tmp_path / "empty", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Nothing running" in result.stdout
    assert f"no stack at {tmp_path / 'empty' / 'stack.json'}" in " ".join(result.stdout.split())


def test_during_db_slow_it_shows_the_fault_its_owner_and_its_toxics(home):
    # db-slow is the existing task, run as a user runs it (invoke chaos.db-slow).
    slow = spawn_python(home, "-m", "invoke", "chaos.db-slow", "--latency", "50",
                        "--duration", "60s", "--report-dir", str(home / "reports"))  # fmt: skip
    try:
        seen = wait_until(
            lambda: (s := status(home))["faults"] and s["toxics"] and s,
            timeout=60,
            what="db-slow's fault in chaos status",
        )
        text = chaos(home, "status").stdout
        slow.send_signal(signal.SIGINT)
        slow.communicate(timeout=60)
    finally:
        slow.kill()
    fault = seen["faults"][0]
    assert fault["pid"] == slow.pid and fault["alive"] is True
    assert fault["acts_on"] == ["timescaledb"] and "latency" in fault["description"]
    assert {t["type"] for t in seen["toxics"]} == {"latency"}
    assert all(t["chaoslib"] and t["proxy"] == "timescaledb" for t in seen["toxics"])
    assert f"pid {slow.pid} running" in text and "— chaoslib's" in text
    assert status(home)["faults"] == []


def test_a_users_own_toxic_and_disabled_link_are_marked_not_chaoslibs(home):
    client = proxy(home)
    client.add_toxic("redis", "latency", name="users-own", attributes={"latency": 5})
    client.disable("timescaledb")
    try:
        seen = status(home)
        text = chaos(home, "status").stdout
    finally:
        client.remove_toxic("redis", "users-own")
        client.enable("timescaledb")
    assert [(t["name"], t["chaoslib"]) for t in seen["toxics"]] == [("users-own", False)]
    assert seen["disabled"] == [{"proxy": "timescaledb", "chaoslib": False}]
    assert "toxic users-own (latency, downstream) on redis" in text
    assert "link timescaledb disabled — not chaoslib's" in text


def test_a_fault_left_by_a_killed_run_is_shown_as_such_and_reset_heals_it(home):
    task = spawn_chaos(home, "pause", "--service", "redis", "--duration", "60s")
    redis = Stack.load(home).services["redis"]
    try:
        wait_until(redis.is_paused, timeout=30, what="redis to be paused")
        task.kill()  # SIGKILL: nothing heals
        task.communicate(timeout=30)
        seen = status(home)
        text = chaos(home, "status").stdout
    finally:
        task.kill()
        reset = run_invoke(home, "chaos.reset")
    assert seen["faults"][0]["alive"] is False
    assert seen["faults"][0]["description"] == "pause redis"
    assert f"pid {task.pid} gone: left by a dead run" in text and "chaos.reset" in text
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert not Stack.load(home).services["redis"].is_paused()
    assert status(home)["faults"] == []
