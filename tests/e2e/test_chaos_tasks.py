"""The chaos tasks as a newcomer runs them: `invoke chaos.*` against `invoke stack.up`."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from chaoslib.services import stack as stack_mod
from chaoslib.toxiproxy.client import Toxiproxy
from tests.helpers import REPO, run_invoke, spawn_python


@pytest.fixture(scope="module")
def home(stack_home):
    return stack_home


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
    assert flap.stdout.count("redis link down") == 2 and flap.stdout.count("redis link up") == 2
    assert "Holding the flap for 700ms…" in flap.stdout  # the last down ends at 0.7s
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


# -- progress while a fault holds -------------------------------------------------------------
def test_a_timed_hold_says_how_long_it_holds_between_the_apply_and_the_heal(home):
    result = invoke(home, "chaos.redis-down", "--duration", "1500ms")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout  # a pipe: one line, not a bar redrawn into the log
    assert "Holding the fault for 1.5s…" in out
    assert out.index("Holding the fault") < out.index("Healed: link down: redis")
    assert "━" not in out


def test_on_a_terminal_a_timed_hold_shows_a_bar_counting_down(home):
    # rich treats the pipe as a terminal, as it would a person's: the bar is drawn.
    result = run_invoke(home, "chaos.redis-down", "--duration", "2", timeout=120,
                        TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", TERM="xterm")  # fmt: skip
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout)  # colours, cursor moves
    assert result.returncode == 0, out + result.stderr
    assert "Holding the fault for 2s ━" in out and "Holding the fault for 2s…" not in out
    left = set(re.findall(r"━ ([0-9.]+m?s) left", out))
    assert len(left) >= 2, out  # redrawn while it held, the time left going down
    assert out.index("left") < out.index("Healed: link down: redis")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chaos.db-slow", "--latency", "slow"], "--latency='slow' is not a duration"),
        (["chaos.redis-down", "--duration", "-1"], "--duration='-1' is too short"),
        (["chaos.redis-flap", "--period", "1", "--down", "2"], "must be shorter than --period"),
        (["chaos.bandwidth", "--rate", "10"], "--link is required (or --service)"),
        (
            ["chaos.bandwidth", "--service", "mongo", "--rate", "10"],
            "--service='mongo'; accepted: redis, postgres",
        ),
        (
            ["chaos.bandwidth", "--link", "mongo", "--rate", "10", "--duration", "1"],
            "unknown link 'mongo'",
        ),
    ],
)
def test_bad_flags_say_what_is_wrong(home, args, message):
    result = invoke(home, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_tasks_without_a_stack_say_how_to_start_one(tmp_path):
    result = invoke(tmp_path / "empty", "chaos.redis-down", "--duration", "1")
    assert result.returncode == 2  # a ConfigError: usage errors exit 2
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
    # The task's own probe runs SELECT 1 through the link: the pattern matches it.
    result = invoke(
        home, "chaos.db-slow", "--pattern", "^select 1", "--latency", "300", "--duration", "0.5"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pg_query(pattern=^select 1, action=delay, delay_ms=300)" in result.stdout
    assert re.search(r"touched its links: matched [1-9]\d*, passed \d+", result.stdout)
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
    assert "Holding the cut for 500ms…" in out
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
    from chaoslib.errors import ProtectedError
    from chaoslib.scenarios.suite import Suite, SuiteConfig
    from chaoslib.target import open_target

    with pytest.raises(ProtectedError, match="protected: true"):
        open_target(protected_profile, home)
    with pytest.raises(ProtectedError):
        Suite(SuiteConfig(profile=protected_profile, home=home))
    assert open_target(protected_profile, home, force=True).link("redis")


# -- every link a service is used through ------------------------------------------------
# A user's service reaches the stack through its own proxy, as in the profiles' `links`:
# the fault tasks must act on those too, and prove they touched a client.


@pytest.fixture
def client_links(home):
    """Per-client proxies to the stack's PostgreSQL and Redis, as a system creates them.

    One is named like neither service: which link leads where comes from its upstream.
    """
    stack = stack_mod.Stack.load(home)
    api = Toxiproxy(stack.proxy_url)
    servers = {
        "db-orchestrator": stack.services["postgres"],
        "reports-replica": stack.services["postgres"],  # a misleading name: a database link
        "redis-orchestrator": stack.services["redis"],
    }
    urls = {}
    for name, server in servers.items():
        made = api.create_proxy(name, upstream="{}:{}".format(*server.address))
        urls[name] = server.url_at(made.listen_port)
    yield urls
    for name in servers:
        api.delete_proxy(name)


def _spawn_task(home, *args: str):
    return spawn_python(home, "-m", "invoke", *args)


def _finish(proc) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return out, err


def _pg(url: str):
    import psycopg

    return psycopg.connect(url, connect_timeout=2, autocommit=True)


def test_db_down_cuts_every_link_to_the_database_and_a_client_on_its_own_proxy(home, client_links):
    import psycopg

    from chaoslib.wait import wait_until

    db_links = {"timescaledb", "db-orchestrator", "reports-replica"}
    client = _pg(client_links["db-orchestrator"])  # a service's open connection
    client.execute("SELECT 1")
    proc = _spawn_task(home, "chaos.db-down", "--duration", "4", "--recover-within", "5")
    try:
        wait_until(
            lambda: all(not proxies(home)[name].enabled for name in db_links),
            timeout=30,
            what="every database link to go down",
        )
        assert proxies(home)["redis"].enabled and proxies(home)["redis-orchestrator"].enabled
        with pytest.raises(psycopg.OperationalError):
            client.execute("SELECT 1")  # its connection was dropped
        with pytest.raises(psycopg.OperationalError):
            _pg(client_links["db-orchestrator"])  # and it cannot reconnect
    finally:
        out, err = _finish(proc)
        client.close()
    assert proc.returncode == 0, out + err
    assert "Applied to 3 links: timescaledb, db-orchestrator, reports-replica" in out
    assert "touched its links: the probe through timescaledb was refused" in out
    assert all(p.enabled for p in proxies(home).values())
    with _pg(client_links["db-orchestrator"]) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)


def test_db_down_with_link_cuts_only_that_link(home, client_links):
    from chaoslib.wait import wait_until

    proc = _spawn_task(home, "chaos.db-down", "--link", "db-orchestrator", "--duration", "3")
    try:
        wait_until(
            lambda: not proxies(home)["db-orchestrator"].enabled,
            timeout=30,
            what="db-orchestrator to go down",
        )
        state = proxies(home)
        assert state["timescaledb"].enabled and state["reports-replica"].enabled
        with _pg(client_links["reports-replica"]) as other:  # the other clients keep working
            assert other.execute("SELECT 1").fetchone() == (1,)
    finally:
        out, err = _finish(proc)
    assert proc.returncode == 0, out + err
    assert "Applied to 1 link: db-orchestrator (probing through db-orchestrator)" in out


def test_client_narrows_to_the_profiles_links_of_that_client(home, client_links):
    result = invoke(
        home, "chaos.db-down", "--profile", "local", "--client", "orchestrator", "--duration", "0.5"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applied to 1 link: db-orchestrator" in result.stdout
    unknown = invoke(home, "chaos.db-down", "--profile", "local", "--client", "shard_09")
    assert unknown.returncode == 2
    assert "--client='shard_09' is not a client; accepted: orchestrator" in unknown.stderr
    no_profile = invoke(home, "chaos.db-down", "--client", "orchestrator")
    assert no_profile.returncode == 2 and "--profile" in no_profile.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("chaos.db-down", "--link", "nope"),
            "unknown link 'nope' for the database (PostgreSQL); "
            "accepted: timescaledb, db-orchestrator, reports-replica",
        ),
        (  # a Redis link is no link to the database, whatever the task
            ("chaos.db-slow", "--link", "redis-orchestrator"),
            "unknown link 'redis-orchestrator' for the database",
        ),
        (
            ("chaos.redis-flap", "--link", "timescaledb,redis"),
            "unknown link 'timescaledb' for Redis; accepted: redis, redis-orchestrator",
        ),
    ],
    ids=["unknown", "other-service", "comma-separated"],
)
def test_a_link_that_is_not_the_services_exits_2_listing_the_accepted(
    home, client_links, args, message
):
    before = {name: (p.enabled, p.toxics) for name, p in proxies(home).items()}
    result = invoke(home, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert {name: (p.enabled, p.toxics) for name, p in proxies(home).items()} == before


def test_a_pattern_that_matches_nothing_fails_and_says_so(home, client_links):
    result = invoke(
        home, "chaos.db-slow", "--pattern", "^select nothing-matches-this", "--duration", "1"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert re.search(
        r'❌ the fault touched nothing: 0 statements matched "\^select nothing-matches-this" '
        r"\(\d+ passed\)",
        out,
    ), out
    assert "Applied to 3 links" in out
    assert all(not p.toxics for p in proxies(home).values())


def test_a_pattern_that_matches_a_clients_statements_passes_with_the_counts(home, client_links):
    from chaoslib.wait import wait_until

    db_links = ("timescaledb", "db-orchestrator", "reports-replica")
    proc = _spawn_task(
        home, "chaos.db-slow", "--pattern", "chaos_marker", "--latency", "50", "--duration", "4"
    )
    try:
        wait_until(
            lambda: all(proxies(home)[name].toxics for name in db_links),
            timeout=30,
            what="the pg_query toxic on every database link",
        )
        with _pg(client_links["db-orchestrator"]) as conn:  # a service's statements
            for _ in range(3):
                assert conn.execute("SELECT 'chaos_marker'").fetchone() == ("chaos_marker",)
    finally:
        out, err = _finish(proc)
    assert proc.returncode == 0, out + err
    assert re.search(r"touched its links: matched 3, passed \d+", out), out
    assert all(not p.toxics for p in proxies(home).values())


def test_redis_flap_takes_every_redis_link_down_together(home, client_links):
    from chaoslib.wait import wait_until

    redis_links = ("redis", "redis-orchestrator")
    proc = _spawn_task(
        home, "chaos.redis-flap", "--period", "1.5", "--down", "0.7", "--cycles", "2"
    )
    try:
        # One API listing is one moment: both down in it means down together.
        wait_until(
            lambda: not any(proxies(home)[name].enabled for name in redis_links),
            timeout=30,
            what="both Redis links down at once",
        )
    finally:
        out, err = _finish(proc)
    assert proc.returncode == 0, out + err
    assert "flap redis, redis-orchestrator: 2 cycles" in out
    assert all(p.enabled for p in proxies(home).values())


def test_bandwidth_service_limits_every_link_to_it(home, client_links):
    result = invoke(
        home, "chaos.bandwidth", "--service", "postgres", "--rate", "100", "--duration", "0.5"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applied to 3 links: timescaledb, db-orchestrator, reports-replica" in result.stdout
    assert all(not p.toxics for p in proxies(home).values())


def test_a_fault_group_that_fails_half_way_heals_what_it_applied(home, client_links):
    from chaoslib.errors import ChaosError
    from chaoslib.faults.group import FaultGroup
    from chaoslib.faults.network import Link
    from chaoslib.target import open_target

    env = open_target(None, home)
    missing = Link("no-such-proxy", env.toxiproxy, ledger=env.ledger).latency(10)
    group = FaultGroup([env.link("timescaledb").latency(10), missing])
    with pytest.raises(ChaosError):
        group.apply()
    assert not group.applied
    assert all(not p.toxics for p in proxies(home).values())
    assert env.ledger.entries() == []
    with FaultGroup([env.link(n).latency(10) for n in ("timescaledb", "db-orchestrator")]) as g:
        assert len(env.ledger.entries()) == 2  # each member its own entry, for chaos.reset
        assert proxies(home)["db-orchestrator"].toxics and g.applied
    assert env.ledger.entries() == [] and all(not p.toxics for p in proxies(home).values())


def test_a_fault_group_heals_every_member_even_when_one_heal_fails(home, tmp_path):
    from chaoslib.errors import ChaosError
    from chaoslib.faults.group import FaultGroup
    from chaoslib.faults.ledger import Ledger
    from chaoslib.faults.network import Link
    from chaoslib.proxy import ProxyServer

    stack = stack_mod.Stack.load(home)
    ledger = Ledger(tmp_path)
    shared = Link("timescaledb", Toxiproxy(stack.proxy_url), ledger=ledger).latency(10)
    other_server = ProxyServer().start()
    try:
        other = Toxiproxy(other_server.url)
        other.create_proxy("elsewhere", upstream="{}:{}".format(*stack.services["redis"].address))
        group = FaultGroup([shared, Link("elsewhere", other, ledger=ledger).latency(10)]).apply()
    finally:
        other_server.close()  # the second member's server is gone: its heal must fail
    with pytest.raises(ChaosError, match="cannot reach"):
        group.heal()
    assert not proxies(home)["timescaledb"].toxics  # healed although the later member failed
    assert [e.target["proxy"] for e in ledger.entries()] == ["elsewhere"]  # left for chaos.reset
    assert group.applied
