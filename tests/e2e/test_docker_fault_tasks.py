"""The fault tasks against the reference system's compose project reach the services.

Every service there uses its own proxies (chaoslib/examples/arbees/docker-compose.chaos-links.yml),
so a fault on the shared proxies alone would touch no service. These tests read
the services' own container logs to prove each one saw the fault.
"""

from __future__ import annotations

import contextlib
import re

import pytest

from chaoslib.profiles import load_profile
from chaoslib.wait import WaitTimeout, wait_until
from tests.docker_helpers import engine, needs_docker
from tests.helpers import run_invoke

pytestmark = needs_docker

PROFILE = load_profile("compose")
# The services that use the database, by the profile's facts: a `database` link.
DB_CLIENTS = sorted(name for name, s in PROFILE.services.items() if s.database)
DB_DOWN_SEEN = ("db_health_failed", "db_retry")  # either shows the service lost its database


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    from chaoslib.target.compose_system import ComposeSystem

    engine()
    root = tmp_path_factory.mktemp("compose-faults")
    running = ComposeSystem(PROFILE, "fast", root / "work", home=root / "home")
    try:
        running.up()
        yield running
    finally:
        running.down()


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def _logs(system, service: str) -> str:
    return system.service(service).container.logs().decode(errors="replace")


def test_db_down_reaches_every_service_that_uses_the_database(system, home):
    assert DB_CLIENTS, "the compose profile names no service with a database link"
    patterns = [re.compile(PROFILE.contract.log_patterns[key]) for key in DB_DOWN_SEEN]
    before = {name: len(_logs(system, name)) for name in DB_CLIENTS}
    done = run_invoke(home, "chaos.db-down", "--profile", "compose", "--duration", "5", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    shared_first = ", ".join(["timescaledb", *(PROFILE.services[n].database for n in DB_CLIENTS)])
    assert f"Applied to {len(DB_CLIENTS) + 1} links: {shared_first}" in out, out

    def saw_it(name: str) -> bool:
        # psycopg's messages span lines ("\n\tIs the server running..."): a record's
        # continuation lines go back onto it before the profile's one-line patterns apply.
        since = _logs(system, name)[before[name] :].replace("\n\t", " ")
        return any(p.search(line) for line in since.splitlines() for p in patterns)

    # The last lines may still be on their way through docker's log driver.
    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: all(saw_it(name) for name in DB_CLIENTS), timeout=15)
    seen = {name: saw_it(name) for name in DB_CLIENTS}
    tails = {
        name: _logs(system, name)[before[name] :][-1500:] for name, ok in seen.items() if not ok
    }
    assert all(seen.values()), (seen, tails, out)
    proxies = system.toxiproxy.proxies()
    assert all(p.enabled for p in proxies.values())


def test_db_slow_pattern_that_matches_nothing_fails(system, home):
    done = run_invoke(
        home, "chaos.db-slow", "--profile", "compose", "--pattern", "^select nothing-matches-this",
        "--duration", "1", timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert '0 statements matched "^select nothing-matches-this"' in done.stdout, done.stdout
    assert all(not system.toxiproxy.toxics(name) for name in system.toxiproxy.proxies())


def test_db_slow_pattern_matches_the_shards_writes_on_their_own_links(system, home):
    done = run_invoke(
        home, "chaos.db-slow", "--profile", "compose", "--pattern", "INSERT INTO game_states",
        "--latency", "50", "--duration", "2", timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"touched its links: matched [1-9]\d*, passed \d+", done.stdout), done.stdout
