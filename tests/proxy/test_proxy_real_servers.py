"""Toxics against real Redis and PostgreSQL clients through the embedded proxy."""

from __future__ import annotations

import time

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# The data plane: every test runs on the proxy's fast path and its general path.
pytestmark = pytest.mark.both_paths


@pytest.fixture
def redis_proxy(client, redis_session):
    return client.create_proxy("redis", upstream=f"127.0.0.1:{redis_session.port}")


@pytest.fixture
def pg_proxy(client, postgres_session):
    return client.create_proxy("timescaledb", upstream=f"127.0.0.1:{postgres_session.port}")


def redis_client(proxy, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(
        port=proxy.listen_port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def pg_connect(proxy, postgres):
    return psycopg.connect(
        host="127.0.0.1",
        port=proxy.listen_port,
        user=postgres.user,
        dbname=postgres.database,
        connect_timeout=5,
    )


def test_redis_latency_through_the_proxy(client, redis_proxy):
    with redis_client(redis_proxy) as r:
        r.ping()
        client.add_toxic("redis", "latency", attributes={"latency": 100})
        start = time.monotonic()
        assert r.ping()
        assert 0.099 <= time.monotonic() - start < 0.3


def test_redis_down_and_back(client, redis_proxy):
    with redis_client(redis_proxy) as r:
        r.set("k", "v")
        client.disable("redis")
        with pytest.raises(redis.ConnectionError):
            r.get("k")
        client.enable("redis")
        assert r.get("k") == b"v"


def test_redis_reset_peer_is_a_connection_reset(client, redis_proxy):
    client.add_toxic("redis", "reset_peer", stream="upstream")
    with redis_client(redis_proxy) as r, pytest.raises(redis.ConnectionError):
        r.ping()


def test_redis_timeout_toxic_makes_commands_time_out(client, redis_proxy):
    with redis_client(redis_proxy, timeout=0.5) as r:
        r.ping()
        client.add_toxic("redis", "timeout", attributes={"timeout": 0})
        with pytest.raises(redis.TimeoutError):
            r.ping()


def test_postgres_latency_slows_every_query(client, pg_proxy, postgres_session):
    with pg_connect(pg_proxy, postgres_session) as conn:
        conn.execute("SELECT 1")
        client.add_toxic("timescaledb", "latency", attributes={"latency": 100})
        start = time.monotonic()
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert 0.099 <= time.monotonic() - start < 0.5


def test_postgres_link_down_breaks_the_connection(client, pg_proxy, postgres_session):
    conn = pg_connect(pg_proxy, postgres_session)
    client.disable("timescaledb")
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    client.enable("timescaledb")
    with pg_connect(pg_proxy, postgres_session) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)


def test_postgres_bulk_copy_survives_a_slicer(client, pg_proxy, postgres_session):
    client.add_toxic(
        "timescaledb",
        "slicer",
        stream="upstream",
        attributes={"average_size": 64, "size_variation": 16, "delay": 0},
    )
    with pg_connect(pg_proxy, postgres_session) as conn:
        conn.execute("CREATE TEMP TABLE t (v text)")
        with conn.cursor().copy("COPY t FROM STDIN") as copy:
            for i in range(2000):
                copy.write_row((f"row-{i}",))
        assert conn.execute("SELECT count(*), max(v) FROM t").fetchone() == (2000, "row-999")
