"""pytest fixtures for chaos tests: a stack, a Toxiproxy client, ``chaos`` that heals at
teardown, and clients that reach Redis and PostgreSQL through a named link.

    def test_orders_survive_a_slow_database(chaos, chaos_pg_client):
        conn = chaos_pg_client("timescaledb")     # this test's own database, through the link
        with chaos.link("timescaledb").latency(500) as slow:
            ...                                   # the link is slow in here
        assert slow.healed_at is not None         # on the clock of chaos.history's events
        chaos.service("redis").kill()             # healed (restarted) at teardown

At teardown only the faults the test applied are healed: a toxic or a disabled link that
the user made through the Toxiproxy API stays as it was.

``--chaos-stack=embedded`` (default) starts a private stack for the session;
``--chaos-stack=running`` uses the one ``invoke stack.up`` started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chaoslib.pytest_plugin.chaos import Chaos, FaultHandle
from chaoslib.pytest_plugin.clients import PostgresClients, RedisClients
from chaoslib.services.stack import Stack, StackConfig
from chaoslib.state import locate_home
from chaoslib.target import Target
from chaoslib.toxiproxy.client import Toxiproxy

__all__ = ["Chaos", "FaultHandle", "pg_client_fixture", "redis_client_fixture"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaoslib")
    group.addoption(
        "--chaos-stack",
        choices=("embedded", "running"),
        default=None,
        help="embedded: start a private stack for the session (default); "
        "running: use the stack that `invoke stack.up` started",
    )
    parser.addini("chaos_stack", "default for --chaos-stack", default="embedded")


@pytest.fixture(scope="session")
def chaos_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The stack the session's faults act on: Redis, PostgreSQL and the proxy server.

    A private one, started for the session and stopped after it (``--chaos-stack=embedded``,
    the default), or the one ``invoke stack.up`` started (``--chaos-stack=running``, or the
    ``chaos_stack`` ini key), which is left running."""
    mode = request.config.getoption("--chaos-stack") or request.config.getini("chaos_stack")
    if mode == "running":
        stack = Stack.load()
        if stack is None:
            pytest.fail(
                "--chaos-stack=running, but no stack is running: run `invoke stack.up` first "
                f"(or `chaos stack.up`). Looked in {locate_home()}."
            )
        yield stack
        return
    stack = Stack(StackConfig(home=tmp_path_factory.mktemp("chaos-home"), owned=True))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def toxiproxy(chaos_stack: Stack) -> Toxiproxy:
    """A client of the stack's proxy server (its Toxiproxy API), for toxics and links of
    your own. The ``chaos`` fixture never removes what you add through it."""
    assert chaos_stack.proxy_url
    return Toxiproxy(chaos_stack.proxy_url)


@pytest.fixture
def chaos(chaos_stack: Stack) -> Iterator[Chaos]:
    """Faults applied at once and healed at teardown, pass or fail; observers; checks.

    ``chaos.link(name).latency(300)``, ``.down()``, ``.flap(...)`` and the other builders of
    a link, ``chaos.service(name).pause()`` (also stop, kill, restart) and
    ``chaos.apply(fault)`` return a :class:`~chaoslib.pytest_plugin.chaos.FaultHandle` with
    ``applied_at``/``healed_at`` on the clock of ``chaos.history``; a ``with`` block heals
    at its end. ``chaos.watch(observer)`` records into that history until teardown.
    ``chaos.events`` lists every apply and heal, as an experiment's journal does (the
    same runner, :class:`~chaoslib.experiment.runner.FaultRun`, applies and heals them).
    Teardown heals only what this test applied."""
    helper = Chaos(Target.from_stack(chaos_stack))
    try:
        yield helper
    finally:
        helper.close()


def _cleaned(chaos: Chaos, clients: RedisClients | PostgresClients) -> Iterator[Any]:
    try:
        yield clients
    finally:
        # Faults first: a connection cannot be closed cleanly, nor a database dropped,
        # through a paused server. chaos's own teardown then finds nothing left to heal.
        try:
            chaos.close()
        finally:
            clients.close()


@pytest.fixture
def chaos_redis_client(chaos: Chaos) -> Iterator[RedisClients]:
    """A factory of ``redis.Redis`` clients through a named link:
    ``chaos_redis_client("redis")``, with ``redis.Redis.from_url``'s keyword arguments
    (timeouts default to 5 s, so a stalled link fails a call rather than hanging it).

    At teardown every client is closed. No database is flushed: Redis's are shared with
    whatever else uses the server, so only the keys named by
    ``cleanup_keys="orders:*"`` (glob patterns) are deleted."""
    yield from _cleaned(chaos, RedisClients(chaos.target))


@pytest.fixture
def chaos_pg_client(chaos: Chaos) -> Iterator[PostgresClients]:
    """A factory of ``psycopg`` connections through a named link:
    ``chaos_pg_client("timescaledb")``, with ``psycopg.connect``'s keyword arguments.

    They go to a database created for this test (``chaos_pg_client.url(link)`` gives its
    URL through the link, for the service under test), dropped at teardown. With
    ``dbname="app"`` they go to an existing database, which is left as it is. At teardown
    every connection is closed."""
    yield from _cleaned(chaos, PostgresClients(chaos.target))


def redis_client_fixture(link: str = "redis", **kwargs: Any) -> Callable[..., Any]:
    """A fixture for a conftest, as pytest-redis's factories make them:
    ``orders_redis = redis_client_fixture("redis", cleanup_keys="orders:*")``."""

    def client(chaos_redis_client: RedisClients) -> Any:
        return chaos_redis_client(link, **kwargs)

    client.__doc__ = f"A redis.Redis through link {link!r} (chaoslib's chaos_redis_client)."
    return pytest.fixture(client)


def pg_client_fixture(link: str = "timescaledb", **kwargs: Any) -> Callable[..., Any]:
    """A fixture for a conftest: ``orders_db = pg_client_fixture("timescaledb")``."""

    def client(chaos_pg_client: PostgresClients) -> Any:
        return chaos_pg_client(link, **kwargs)

    client.__doc__ = f"A psycopg connection through link {link!r} (chaoslib's chaos_pg_client)."
    return pytest.fixture(client)
