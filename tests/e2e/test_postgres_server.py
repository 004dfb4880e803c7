"""PostgresServer controls a real PostgreSQL, observed through psycopg."""

from __future__ import annotations

import os
import pwd

import psycopg
import pytest

from chaoslib.errors import ServiceError
from chaoslib.services.postgres import PostgresServer
from tests.helpers import connection_refused


@pytest.fixture
def server(tmp_path, postgres_binary):
    srv = PostgresServer(tmp_path / "pg", binary=postgres_binary)
    srv.start()
    yield srv
    srv.stop()
    srv.remove_data()


def test_select_one_through_the_url(server):
    with psycopg.connect(server.url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert server.url.startswith("postgresql://chaos@127.0.0.1:")


@pytest.mark.skipif(os.geteuid() != 0, reason="the root path only applies to root")
def test_runs_as_an_unprivileged_account_when_root(server):
    owner = pwd.getpwuid(os.stat(f"/proc/{server.pid}").st_uid).pw_name
    assert owner != "root"
    assert owner == server.extra["os_user"]


def test_kill_refuses_connections_and_restart_keeps_the_data(server):
    with server.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    data_dir = server.data_dir
    server.kill()
    assert not server.is_running()
    assert connection_refused(*server.address)
    server.start()
    assert server.data_dir == data_dir
    with server.connect() as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (42,)


def test_connect_times_out_while_paused_and_works_after_resume(server):
    server.pause()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.conninfo(), connect_timeout=1)
    server.resume()
    with server.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stop_is_idempotent_and_leaves_no_backend(server):
    with server.connect() as conn:
        conn.execute("SELECT 1")
    pid = server.pid
    server.stop()
    server.stop()
    assert connection_refused(*server.address)
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == pid]
    assert leftovers == []


def test_restart_with_down_time_uses_the_injected_sleep(server):
    slept = []
    server.restart(down_for=30.0, sleep=slept.append)
    assert slept == [30.0]
    assert server.probe()


def test_reports_whether_timescaledb_is_available(server):
    assert isinstance(server.extra["timescaledb"], bool)


def test_bad_configuration_fails_with_the_servers_log(tmp_path, postgres_binary):
    srv = PostgresServer(tmp_path / "bad", binary=postgres_binary, start_timeout=15)
    srv.prepare()
    with open(srv.data_dir / "postgresql.conf", "a") as conf:
        conf.write("\nthis is not = valid = config\n")
    with pytest.raises(ServiceError) as info:
        srv.start()
    assert "postgresql.conf" in str(info.value)  # PostgreSQL's own complaint, from its log
    srv.remove_data()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
