"""pg_query and redis_command against real servers and real clients through the proxy."""

from __future__ import annotations

import time

import psycopg
import pytest
import redis
from psycopg import errors as pg_errors
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaoslib.toxiproxy.client import ToxiproxyError

# The data plane: every test runs on the proxy's fast path and its general path.
pytestmark = pytest.mark.both_paths


@pytest.fixture
def redis_proxy(client, redis_session):
    return client.create_proxy("redis", upstream=f"127.0.0.1:{redis_session.port}")


@pytest.fixture
def pg_proxy(client, postgres_session):
    return client.create_proxy("pg", upstream=f"127.0.0.1:{postgres_session.port}")


@pytest.fixture
def pg(pg_proxy, postgres_session):
    conn = psycopg.connect(
        host="127.0.0.1",
        port=pg_proxy.listen_port,
        user=postgres_session.user,
        dbname=postgres_session.database,
        connect_timeout=5,
        autocommit=True,
        sslmode="prefer",  # an SSLRequest first: the server says N, startup goes in the clear
    )
    conn.execute("CREATE TABLE IF NOT EXISTS toxic_rows (id serial PRIMARY KEY, v text)")
    conn.execute("TRUNCATE toxic_rows")
    yield conn
    conn.close()


def redis_client(proxy) -> redis.Redis:
    return redis.Redis(port=proxy.listen_port, socket_timeout=5, retry=Retry(NoBackoff(), 0))


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


# -- PostgreSQL -----------------------------------------------------------------------


def test_pg_query_delays_matching_insert_only(client, pg):
    baseline = min(
        timed(lambda: pg.execute("INSERT INTO toxic_rows (v) VALUES ('a')")) for _ in range(3)
    )
    client.add_toxic(
        "pg",
        "pg_query",
        name="slow_insert",
        attributes={"pattern": "insert into toxic_rows", "delay_ms": 300},
    )
    took = timed(lambda: pg.execute("INSERT INTO toxic_rows (v) VALUES (%s)", ("b",)))
    # Never less than the delay, and far from twice it: a timer on a busy 2-core VM
    # wakes up to tens of ms late (0.316 and 0.327 s were seen, before and after issue 21).
    assert 0.295 <= took - baseline <= 0.4, f"{took:.3f}s vs baseline {baseline:.3f}s"
    select = timed(lambda: pg.execute("SELECT count(*) FROM toxic_rows").fetchone())
    assert select < 0.1, f"an unmatched SELECT took {select:.3f}s"
    stats = client.get_toxic("pg", "slow_insert").stats
    assert stats == {"matched": 1, "passed": 1}
    assert pg.execute("SELECT count(*) FROM toxic_rows").fetchone()[0] == 4


def test_pg_query_error_is_a_real_serialization_failure_and_the_retry_succeeds(client, pg):
    client.add_toxic(
        "pg",
        "pg_query",
        attributes={
            "pattern": "^insert",
            "action": "error",
            "sqlstate": "40001",
            "message": "could not serialize access",
            "count": 1,
        },
    )
    pg.autocommit = False
    attempts = 0
    for _ in range(3):
        attempts += 1
        try:
            with pg.transaction():
                pg.execute("INSERT INTO toxic_rows (v) VALUES (%s)", ("tx",))
            break
        except pg_errors.SerializationFailure as exc:
            assert "could not serialize access" in str(exc)
    assert attempts == 2
    assert pg.execute("SELECT v FROM toxic_rows").fetchall() == [("tx",)]


def test_pg_query_error_on_a_simple_query_inside_a_transaction_block(client, pg):
    client.add_toxic(
        "pg",
        "pg_query",
        attributes={"pattern": "delete", "action": "error", "sqlstate": "57014"},
    )
    pg.autocommit = False
    pg.execute("INSERT INTO toxic_rows (v) VALUES ('kept')")
    with pytest.raises(pg_errors.QueryCanceled):
        pg.execute("DELETE FROM toxic_rows", prepare=False)
    assert pg.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    pg.rollback()
    assert pg.execute("SELECT count(*) FROM toxic_rows").fetchone()[0] == 0  # rolled back


def test_pg_query_matches_a_prepared_statement_through_bind_and_execute(client, pg):
    client.add_toxic(
        "pg", "pg_query", name="p", attributes={"pattern": "toxic_rows", "delay_ms": 200}
    )
    query = "INSERT INTO toxic_rows (v) VALUES (%s)"
    first = timed(lambda: pg.execute(query, ("parse",), prepare=True))  # Parse, Bind, Execute
    again = timed(lambda: pg.execute(query, ("bind",), prepare=True))  # Bind, Execute by name
    assert 0.19 <= first < 0.4 and 0.19 <= again < 0.4, (first, again)
    assert client.get_toxic("pg", "p").stats["matched"] == 2
    assert pg.execute("SELECT count(*) FROM toxic_rows", prepare=False).fetchone()[0] == 2


def test_pg_query_close_ends_the_connection_without_running_the_statement(
    client, pg, pg_proxy, postgres_session
):
    client.add_toxic("pg", "pg_query", attributes={"pattern": "insert", "action": "close"})
    with pytest.raises(psycopg.OperationalError):
        pg.execute("INSERT INTO toxic_rows (v) VALUES ('never')")
    client.reset()
    with psycopg.connect(
        host="127.0.0.1",
        port=pg_proxy.listen_port,
        user=postgres_session.user,
        dbname=postgres_session.database,
    ) as other:
        assert other.execute("SELECT count(*) FROM toxic_rows").fetchone()[0] == 0


def test_pg_query_rejects_bad_attributes_naming_the_field(client, pg_proxy):
    with pytest.raises(ToxiproxyError, match="sqlstate.*five digits"):
        client.add_toxic("pg", "pg_query", attributes={"action": "error", "sqlstate": "oops"})
    with pytest.raises(ToxiproxyError, match="pattern of pg_query is not a regex"):
        client.add_toxic("pg", "pg_query", attributes={"pattern": "("})
    with pytest.raises(ToxiproxyError, match="action.*accepted: delay, error, close"):
        client.add_toxic("pg", "pg_query", attributes={"action": "explode"})
    with pytest.raises(ToxiproxyError, match="stream downstream is not accepted"):
        client.add_toxic("pg", "pg_query", stream="downstream")
    assert client.add_toxic("pg", "pg_query").stream == "upstream"


# -- Redis ----------------------------------------------------------------------------


def test_redis_command_delays_publish_while_get_stays_fast(client, redis_proxy):
    with redis_client(redis_proxy) as r:
        r.ping()
        client.add_toxic(
            "redis", "redis_command", attributes={"commands": ["PUBLISH"], "delay_ms": 250}
        )
        took = timed(lambda: r.publish("ch", "x"))
        assert 0.245 <= took < 0.4
        assert timed(lambda: r.get("k")) < 0.15  # not delayed (a busy core may add some)


def test_redis_command_readonly_error_is_raised_by_redis_py(client, redis_proxy):
    client.add_toxic(
        "redis",
        "redis_command",
        attributes={"commands": ["set"], "action": "error", "key_pattern": "^orders:"},
    )
    with redis_client(redis_proxy) as r:
        with pytest.raises(redis.exceptions.ReadOnlyError):
            r.set("orders:1", "x")
        assert r.set("other", "y")
        assert r.get("orders:1") is None  # never forwarded


def test_redis_command_pipeline_of_100_keeps_replies_in_order(client, redis_proxy):
    client.add_toxic(
        "redis",
        "redis_command",
        name="xadd_oom",
        attributes={
            "commands": ["XADD"],
            "action": "error",
            "error": "OOM command not allowed when used memory > 'maxmemory'.",
        },
    )
    with redis_client(redis_proxy) as r:
        r.delete("s", *[f"k{i}" for i in range(100)])
        pipe = r.pipeline(transaction=False)
        for i in range(100):
            if i % 3 == 0:
                pipe.xadd("s", {"i": i})
            elif i % 3 == 1:
                pipe.set(f"k{i}", i)
            else:
                pipe.get(f"k{i - 1}")
        replies = pipe.execute(raise_on_error=False)
        for i, reply in enumerate(replies):
            if i % 3 == 0:
                assert isinstance(reply, redis.exceptions.OutOfMemoryError), (i, reply)
            elif i % 3 == 1:
                assert reply is True, (i, reply)
            else:
                assert reply == str(i - 1).encode(), (i, reply)
        assert r.xlen("s") == 0
    stats = client.get_toxic("redis", "xadd_oom").stats
    assert stats["matched"] == 34 and stats["passed"] >= 66


def test_redis_command_close_drops_the_reply_after_the_write(client, redis_proxy):
    client.add_toxic(
        "redis", "redis_command", attributes={"commands": ["INCR", "INCRBY"], "action": "close"}
    )
    with redis_client(redis_proxy) as r:
        r.set("n", 0)
        with pytest.raises(redis.ConnectionError):
            r.incr("n")
    client.reset()
    with redis_client(redis_proxy) as r:
        assert r.get("n") == b"1"  # the write happened; the client never heard


def test_removing_the_toxic_releases_what_it_holds(client, redis_proxy):
    client.add_toxic(
        "redis", "redis_command", name="hold", attributes={"commands": ["GET"], "delay_ms": 60_000}
    )
    with redis_client(redis_proxy) as r:
        r.set("k", "v")
        pool = r.connection_pool
        conn = pool.get_connection()
        conn.send_command("GET", "k")
        assert not conn.can_read(timeout=0.2)
        client.remove_toxic("redis", "hold")
        assert conn.read_response() == b"v"
        pool.release(conn)


def test_pg_query_added_to_a_pooled_connection_matches_statements_prepared_before(client, pg):
    query = "INSERT INTO toxic_rows (v) VALUES (%s)"
    for i in range(3):
        pg.execute(query, (f"before{i}",), prepare=True)  # prepared before the toxic exists
    client.add_toxic(
        "pg", "pg_query", name="late", attributes={"pattern": "toxic_rows", "delay_ms": 200}
    )
    took = timed(lambda: pg.execute(query, ("after",), prepare=True))  # Bind/Execute only
    assert 0.19 <= took < 0.4, took
    other = timed(lambda: pg.execute("SELECT 1", prepare=True).fetchone())
    assert other < 0.1
    assert client.get_toxic("pg", "late").stats["matched"] == 1
    # The proxy's own question never reached the client: the connection is in sync.
    assert pg.execute("SELECT count(*) FROM toxic_rows", prepare=False).fetchone()[0] == 4


def test_pipeline_cut_into_random_pieces_keeps_every_reply_in_place(client, redis_proxy):
    """Frames split across reads, some chunks only counted (no matching name in them),
    some parsed: every reply arrives once, in order, the injected ones in their place."""
    import random
    import socket

    from chaoslib.proxy.wire.resp import encode_command

    client.add_toxic(
        "redis", "redis_command", attributes={"commands": ["XADD"], "action": "error",
                                              "error": "OOM no room"},
    )  # fmt: skip
    rng = random.Random(7)
    stream, expected = [], []
    for i in range(3000):
        kind = rng.random()
        if kind < 0.05:
            stream.append(encode_command("XADD", "s", "*", "f", "v"))
            expected.append(b"-OOM no room\r\n")
        elif kind < 0.5:
            value = f"v{i}-XADD" if kind < 0.1 else f"v{i}"  # a name inside a value
            stream.append(encode_command("SET", f"k{i}", value))
            expected.append(b"+OK\r\n")
        else:
            stream.append(encode_command("ECHO", f"e{i}"))
            expected.append(b"$%d\r\ne%d\r\n" % (len(f"e{i}"), i))
    data, want = b"".join(stream), b"".join(expected)
    with socket.create_connection(("127.0.0.1", redis_proxy.listen_port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pos = 0
        while pos < len(data):
            size = rng.randrange(1, 400)
            sock.sendall(data[pos : pos + size])
            pos += size
        got = b""
        while len(got) < len(want):
            chunk = sock.recv(65536)
            assert chunk, f"closed after {len(got)} of {len(want)} bytes"
            got += chunk
    assert got == want


def test_pg_messages_cut_into_random_pieces_get_their_own_answers_in_order(
    client, pg_proxy, postgres_session
):
    """Simple and extended queries, some matching, sent in random pieces: every statement
    gets its answer in order, the failed ones an ErrorResponse in their place."""
    import random
    import socket

    from chaoslib.proxy.wire import pg as wire

    client.add_toxic(
        "pg", "pg_query", attributes={"pattern": "'hit'", "action": "error", "sqlstate": "40001"}
    )
    user, db = postgres_session.user.encode(), postgres_session.database.encode()
    body = struct_pack_startup(user, db)
    rng = random.Random(11)
    stream, expected = [], []
    for i in range(400):
        hit = rng.random() < 0.2
        literal = "'hit'" if hit else f"'miss{i}'"
        if rng.random() < 0.5:
            stream.append(wire.message("Q", f"SELECT {literal}".encode() + b"\0"))
            expected.append("EZ" if hit else "TDCZ")
        else:
            sql = f"SELECT {literal}, $1::int".encode()
            stream.append(
                wire.message("P", b"\0" + sql + b"\0\0\0")
                + wire.message("B", b"\0\0\0\0\0\x01\0\0\0\x01" + b"7" + b"\0\0")
                + wire.message("E", b"\0\0\0\0\0")
                + wire.message("S", b"")
            )
            expected.append("12EZ" if hit else "12DCZ")
    data = b"".join(stream)
    with socket.create_connection(("127.0.0.1", pg_proxy.listen_port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(body)
        replies = wire.BackendParser()
        kinds = ""
        while not kinds.endswith("Z"):
            kinds += "".join(f.kind for f in replies.feed(sock.recv(65536)))
        pos = 0
        while pos < len(data):
            size = rng.randrange(1, 300)
            sock.sendall(data[pos : pos + size])
            pos += size
        got = ""
        while got.count("Z") < len(expected):
            chunk = sock.recv(65536)
            assert chunk, f"closed after {got.count('Z')} answers"
            got += "".join(f.kind for f in replies.feed(chunk) if f.kind not in "NSA")
    assert got.split("Z")[:-1] == [e[:-1] for e in expected]


def struct_pack_startup(user: bytes, database: bytes) -> bytes:
    import struct

    body = struct.pack("!i", 196608) + b"user\0" + user + b"\0database\0" + database + b"\0\0"
    return struct.pack("!i", len(body) + 4) + body


def test_pg_query_added_during_a_handshake_reads_the_startup_that_follows(client, pg_proxy):
    """Joined after the client's SSLRequest, before its StartupMessage: the next bytes
    are told apart by their first byte, and the server's lone N is the TLS answer."""
    import socket

    from chaoslib.proxy.wire import pg as wire

    with socket.create_connection(("127.0.0.1", pg_proxy.listen_port), timeout=5) as sock:
        sock.sendall(wire.struct.pack("!ii", 8, wire.SSL_REQUEST))
        assert sock.recv(1) == b"N"
        client.add_toxic(
            "pg", "pg_query", name="mid", attributes={"pattern": "^SELECT 2", "delay_ms": 300}
        )
        sock.sendall(struct_pack_startup(b"chaos", b"chaos"))
        replies = wire.BackendParser()
        kinds = ""
        while not kinds.endswith("Z"):
            kinds += "".join(f.kind for f in replies.feed(sock.recv(65536)))
        start = time.monotonic()
        sock.sendall(wire.message("Q", b"SELECT 2\0"))
        while not kinds.endswith("CZ"):
            kinds += "".join(f.kind for f in replies.feed(sock.recv(65536)) if f.kind not in "NS")
        assert 0.29 <= time.monotonic() - start < 0.6
    assert client.get_toxic("pg", "mid").stats["matched"] == 1
