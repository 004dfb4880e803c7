"""Pausing PostgreSQL freezes the whole server: the postmaster and every backend.

PostgreSQL's children each lead their own session, so a signal to the postmaster's
process group reaches none of them: a paused server's open connections kept answering.
"""

from __future__ import annotations

import threading

import psutil
import pytest

from chaoslib.services.postgres import PostgresServer
from chaoslib.wait import WaitTimeout, wait_until


@pytest.fixture
def server(tmp_path, postgres_binary):
    srv = PostgresServer(tmp_path / "pg", binary=postgres_binary)
    srv.start()
    yield srv
    srv.resume()
    srv.stop()
    srv.remove_data()


def _query_in_thread(conn) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(
        target=lambda: answers.append(conn.execute("SELECT 1").fetchone()), daemon=True
    )
    thread.start()
    return thread, answers


def test_a_query_on_an_open_connection_waits_until_resume(server):
    with server.connect(autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        server.pause()
        try:
            assert backend.status() == psutil.STATUS_STOPPED
            thread, answers = _query_in_thread(conn)
            # Frozen: no answer within a deadline far longer than a SELECT 1 takes.
            with pytest.raises(WaitTimeout):
                wait_until(lambda: answers, timeout=1.5, what="SELECT 1 on a paused server")
        finally:
            server.resume()
        wait_until(lambda: answers, timeout=15, what="SELECT 1 after resume")
        thread.join(5)
        assert answers == [(1,)]
        assert backend.status() != psutil.STATUS_STOPPED


def test_pause_stops_every_process_of_the_server_and_resume_thaws_them(server):
    with server.connect() as conn:
        conn.execute("SELECT 1")
        tree = psutil.Process(server.pid).children(recursive=True)
        assert tree, "a running server has backends and auxiliary processes"
        server.pause()
        try:
            stopped = [p for p in tree if p.status() == psutil.STATUS_STOPPED]
            assert len(stopped) == len(tree)
            assert server.is_paused()
        finally:
            server.resume()
        assert not server.is_paused()
        assert all(p.status() != psutil.STATUS_STOPPED for p in tree if p.is_running())
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_a_paused_server_stops_without_leaving_frozen_backends(server):
    with server.connect(autocommit=True) as conn:  # autocommit: closing sends no COMMIT
        conn.execute("SELECT 1")
        tree = psutil.Process(server.pid).children(recursive=True)
        server.pause()
        server.kill()
    wait_until(
        lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree),
        timeout=15,
        what="every backend of a killed paused server to exit",
    )
    server.start()  # no frozen backend holds the shared memory or the port
    assert server.probe()
