"""pytest fixtures for chaos tests: a stack, a Toxiproxy client, and ``chaos`` that heals at teardown.

    def test_orders_survive_a_slow_database(chaos):
        with chaos.link("timescaledb").latency(500):
            ...                                   # the link is slow in here
        chaos.service("redis").kill()             # healed (restarted) at teardown
        verdict = chaos.checks.recovered_within(...)

``--chaos-stack=embedded`` (default) starts a private stack for the session;
``--chaos-stack=running`` uses the one ``invoke stack.up`` started.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chaoslib import checks as checks_module
from chaoslib import observe as observe_module
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.network import Link
from chaoslib.faults.recovery import restore_service
from chaoslib.faults.service import Restart, ServiceFault
from chaoslib.services.base import Service
from chaoslib.stack import Stack, StackConfig
from chaoslib.target import Target
from chaoslib.toxiproxy import Toxiproxy


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


class _AppliedLink:
    """A Link whose faults are applied at once and healed at teardown (or at ``with`` exit)."""

    def __init__(self, link: Link, faults: list[Fault]) -> None:
        self._link, self._faults = link, faults

    def __getattr__(self, name: str) -> Any:
        builder = getattr(self._link, name)

        def build(*args: Any, **kwargs: Any) -> Fault:
            fault = builder(*args, **kwargs)
            self._faults.append(fault)
            return fault.apply()

        return build


class _ServiceFaults:
    def __init__(self, service: Service, faults: list[Fault], ledger: Ledger | None) -> None:
        self.service, self._faults, self._ledger = service, faults, ledger

    def _do(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault.apply()

    def stop(self) -> Fault:
        return self._do(ServiceFault(self.service, "stop", ledger=self._ledger))

    def kill(self) -> Fault:
        return self._do(ServiceFault(self.service, "kill", ledger=self._ledger))

    def pause(self) -> Fault:
        return self._do(ServiceFault(self.service, "pause", ledger=self._ledger))

    def restart(self, down_for: float = 0.0) -> Fault:
        return self._do(Restart(self.service, down_for, ledger=self._ledger))


class Chaos:
    """The per-test helper: faults that always heal, observers, checks."""

    observe = observe_module
    checks = checks_module

    def __init__(self, target: Target) -> None:
        self.target = target
        self.faults: list[Fault] = []
        self.history = observe_module.History()

    @property
    def env(self) -> Target:
        """The name :attr:`target` had before there was one Target."""
        return self.target

    def link(self, name: str) -> _AppliedLink:
        return _AppliedLink(self.target.link(name), self.faults)

    def url(self, link: str) -> str:
        return self.target.url(link)

    def service(self, name: str) -> _ServiceFaults:
        return _ServiceFaults(self.target.service(name), self.faults, self.target.ledger)

    def heal_all(self) -> None:
        errors = []
        for fault in reversed(self.faults):
            try:
                fault.heal()
            except Exception as exc:
                errors.append(exc)
        self.faults.clear()
        self.target.toxiproxy.reset()
        for service in self.target.services.values():
            restore_service(service)
        if errors:
            raise errors[0]


@pytest.fixture(scope="session")
def chaos_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    mode = request.config.getoption("--chaos-stack") or request.config.getini("chaos_stack")
    if mode == "running":
        stack = Stack.load()
        if stack is None:
            pytest.fail(
                "--chaos-stack=running, but no stack is running: run `invoke stack.up` first"
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
    assert chaos_stack.proxy_url
    return Toxiproxy(chaos_stack.proxy_url)


@pytest.fixture
def chaos(chaos_stack: Stack) -> Iterator[Chaos]:
    helper = Chaos(Target.from_stack(chaos_stack))
    try:
        yield helper
    finally:
        helper.heal_all()
