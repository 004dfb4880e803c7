"""The plugin's client factories and fault handles, used as a test author uses them.

The inner tests run in a pytester subprocess against the plugin's own embedded stack, in
order: one test makes clients, keys and databases, the next checks from outside (through
the direct URLs, which no fault touches) what the teardown in between left.
"""

from __future__ import annotations

import pytest

from chaoslib.clock import ManualClock
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.pytest_plugin.chaos import Chaos
from chaoslib.target import Target
from chaoslib.toxiproxy.client import Toxiproxy

pytest_plugins = ["pytester"]

CONFTEST = """
from chaoslib.pytest_plugin import redis_client_fixture

orders_redis = redis_client_fixture("redis", client_name="orders_fixture")
"""

INNER = """
import psycopg
import pytest
import redis
from psycopg import sql

from chaoslib.errors import ConfigError
from chaoslib.wait import wait_until

SEEN = {}


def direct_redis(chaos):
    return redis.Redis.from_url(chaos.target.direct["redis"], socket_timeout=5)


def direct_pg(chaos):
    return psycopg.connect(chaos.target.direct["postgres"], autocommit=True)


@pytest.fixture(scope="module")
def users_data(chaos_stack):
    # The user's own data, made before any chaos fixture: a key and a database with a row.
    r = redis.Redis.from_url(chaos_stack.services["redis"].url)
    r.set("users:keep", "1")
    with psycopg.connect(chaos_stack.services["postgres"].url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE users_db")
    users_url = chaos_stack.services["postgres"].url.rsplit("/", 1)[0] + "/users_db"
    with psycopg.connect(users_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (1)")
    yield users_url


def test_a_makes_clients_keys_and_a_database(users_data, chaos, chaos_redis_client,
                                             chaos_pg_client, orders_redis):
    r = chaos_redis_client("redis", cleanup_keys="mine:*", client_name="test_a")
    r.set("mine:1", "x")
    r.set("mine:2", "y")
    assert r.get("users:keep") == b"1"
    assert orders_redis.ping()
    conn = chaos_pg_client("timescaledb", application_name="test_a")
    conn.execute("CREATE TABLE t (n int)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    SEEN["own_db"] = conn.info.dbname
    assert conn.info.dbname.startswith("chaos_test_")
    assert chaos_pg_client.url("timescaledb").endswith("/" + conn.info.dbname)
    again = chaos_pg_client("timescaledb")
    assert again.info.dbname == conn.info.dbname  # one database per test, shared
    users = chaos_pg_client("timescaledb", dbname="users_db", application_name="test_a")
    users.execute("INSERT INTO kept VALUES (2)")
    users.commit()


def test_b_the_teardown_closed_them_and_removed_only_what_it_made(users_data, chaos):
    r = direct_redis(chaos)
    assert r.keys("mine:*") == []
    assert r.get("users:keep") == b"1"
    def names():
        return {c.get("name") for c in r.client_list()}
    wait_until(lambda: not {"test_a", "orders_fixture"} & names(), timeout=10,
               what="the redis clients' connections to close")
    with direct_pg(chaos) as admin:
        dbs = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
        assert SEEN["own_db"] not in dbs and "users_db" in dbs
        def sessions():
            return admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'test_a'"
            ).fetchone()[0]
        wait_until(lambda: sessions() == 0, timeout=10, what="the pg connections to close")
    with psycopg.connect(users_data) as conn:
        assert conn.execute("SELECT n FROM kept ORDER BY n").fetchall() == [(1,), (2,)]


def test_c_a_paused_database_is_resumed_before_its_test_database_is_dropped(
    chaos, chaos_pg_client
):
    conn = chaos_pg_client("timescaledb")
    SEEN["paused_db"] = conn.info.dbname
    chaos.service("postgres").pause()


def test_d_that_database_was_dropped(chaos):
    with direct_pg(chaos) as admin:
        dbs = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
    assert SEEN["paused_db"] not in dbs


def test_e_a_link_to_another_server_is_refused_naming_the_right_ones(
    chaos_pg_client, chaos_redis_client
):
    with pytest.raises(ConfigError, match="link 'redis' does not lead to postgres; "
                       "links to it: timescaledb"):
        chaos_pg_client("redis")
    with pytest.raises(ConfigError, match="unknown link 'nope'"):
        chaos_redis_client("nope")


def test_f_recovery_is_timed_from_healed_at(chaos):
    probe = chaos.watch(chaos.observe.redis_ping(chaos.url("redis"), name="redis",
                                                 interval=0.05, timeout=0.5))
    wait_until(lambda: chaos.history.select(source="redis"), timeout=10, what="a first ping")
    down = chaos.link("redis").down()
    wait_until(lambda: [e for e in chaos.history.select(source="redis", since=down.applied_at)
                        if e.ok is False], timeout=10, what="a failed ping")
    down.heal()
    wait_until(lambda: [e for e in chaos.history.select(source="redis", since=down.healed_at)
                        if e.ok], timeout=10, what="a ping after the heal")
    probe.stop()
    assert down.applied_at < down.healed_at
    verdict = chaos.checks.recovered_within(
        chaos.history, "redis", 2.0, healed_at=down.healed_at, fault_at=down.applied_at
    )
    assert verdict.status == "pass", verdict
    failed = [e for e in chaos.history.select(source="redis") if e.ok is False]
    assert all(down.applied_at <= e.t <= down.healed_at + 1.0 for e in failed), failed
    assert [(e.action, e.t) for e in chaos.events] == [
        ("apply", down.applied_at), ("heal", down.healed_at)
    ]
    marks = [(e.value, e.t) for e in chaos.history.select(kind="fault")]
    assert marks == [("apply", down.applied_at), ("heal", down.healed_at)]
    print("RECOVERED", verdict.measured, verdict.details)
"""


def test_client_factories_clean_up_only_what_they_made(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-q", "-s")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*RECOVERED *time_to_recover_s*"])


class _Recorded(Fault):
    """A fault with nothing behind it but a record of its calls (the contract's real
    apply/heal/ledger path runs; only the act is a list append)."""

    def __init__(self, name: str, calls: list[str], ledger: Ledger, fail_heal: bool = False):
        super().__init__(ledger=ledger)
        self.name, self.calls, self.fail_heal = name, calls, fail_heal

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("test", {}, self.name)

    def _apply(self) -> None:
        self.calls.append(f"apply {self.name}")

    def _heal(self) -> None:
        self.calls.append(f"heal {self.name}")
        if self.fail_heal:
            raise RuntimeError(f"{self.name} will not heal")


@pytest.fixture
def offline_chaos(tmp_path):
    """A Chaos on a manual clock, with no server: only its bookkeeping is under test."""
    target = Target(toxiproxy=Toxiproxy("http://127.0.0.1:9"), ledger=Ledger(tmp_path))
    return Chaos(target, clock=ManualClock(100.0))


def test_handles_are_timed_on_the_helpers_clock_and_named_apart(offline_chaos, tmp_path):
    calls: list[str] = []
    first = offline_chaos.apply(_Recorded("slow", calls, Ledger(tmp_path)))
    offline_chaos.clock.advance(2.5)
    second = offline_chaos.apply(_Recorded("slow", calls, Ledger(tmp_path)))
    offline_chaos.clock.advance(1.0)
    second.heal()
    second.heal()  # idempotent: healed once, recorded once
    assert (first.applied_at, second.applied_at, second.healed_at) == (100.0, 102.5, 103.5)
    assert first.healed_at is None and first.active and not second.active
    assert [first.name, second.name] == ["slow", "slow#2"]
    assert [(e.fault, e.action, e.t) for e in offline_chaos.events] == [
        ("slow", "apply", 100.0),
        ("slow#2", "apply", 102.5),
        ("slow#2", "heal", 103.5),
    ]
    # Through the one runner: its record is the helper's, and the history holds the same.
    assert offline_chaos.events is offline_chaos.run.events
    assert offline_chaos.run.applied_at("slow#2") == second.applied_at
    marks = [(e.source, e.value, e.t) for e in offline_chaos.history.select(kind="fault")]
    assert marks == [("slow", "apply", 100.0), ("slow#2", "apply", 102.5),
                     ("slow#2", "heal", 103.5)]  # fmt: skip


def test_heal_all_heals_last_first_tries_every_fault_and_raises_the_first_error(
    offline_chaos, tmp_path
):
    calls: list[str] = []
    ledger = Ledger(tmp_path)
    for name, fails in (("a", False), ("b", True), ("c", False)):
        offline_chaos.apply(_Recorded(name, calls, ledger, fail_heal=fails))
    with pytest.raises(RuntimeError, match="b will not heal"):
        offline_chaos.close()
    assert calls[3:] == ["heal c", "heal b", "heal a"]
    [failed] = [e for e in offline_chaos.events if e.error]
    assert (failed.fault, failed.action, failed.error) == (
        "b",
        "heal",
        "RuntimeError: b will not heal",
    )
    assert [e.description for e in ledger.entries()] == ["b"]  # kept for chaos.reset
