"""The ``chaos`` fixture's helper: faults applied at once, timed on the history's clock, and
healed at teardown: only the faults this test applied, never the proxy as a whole.

Every fault the helper applies is a :class:`FaultHandle`. Its ``applied_at`` and
``healed_at`` are read on :attr:`Chaos.clock`, the clock of :attr:`Chaos.history` and of
the observers :meth:`Chaos.watch` starts, so they compare directly with the ``t`` of any
event there::

    with chaos.watch(chaos.observe.redis_ping(chaos.url("redis"), name="redis")):
        fault = chaos.link("redis").down()
        ...
        fault.heal()
    verdict = chaos.checks.recovered_within(
        chaos.history, "redis", 2.0, healed_at=fault.healed_at, fault_at=fault.applied_at
    )

The faults are applied and healed through :class:`~chaoslib.experiment.runner.FaultRun`, the
runner an experiment uses: each apply and heal is a :class:`~chaoslib.experiment.journal.FaultEvent`
in :attr:`Chaos.events` and a ``fault`` event in the history, as in an experiment's journal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger

from chaoslib import observe as observe_module
from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.experiment import checks as checks_module
from chaoslib.experiment.journal import FaultEvent
from chaoslib.experiment.runner import FaultRun
from chaoslib.faults.base import Fault
from chaoslib.faults.network import Link
from chaoslib.faults.service import Restart, ServiceFault
from chaoslib.faults.signals import signals_held
from chaoslib.observe.base import Observer
from chaoslib.observe.history import History
from chaoslib.target import Target


class FaultHandle:
    """One fault a test applied: ``applied_at`` and ``healed_at`` (when its apply and its
    heal began), on the history's clock; None until that happened.

    Used in a ``with`` block it heals at the block's end. Anything else is the fault's
    own (``update(...)``, ``stats``, ``describe()``)."""

    def __init__(self, name: str, fault: Fault, chaos: Chaos) -> None:
        self.name, self.fault, self._chaos = name, fault, chaos
        self.applied_at: float | None = None
        self.healed_at: float | None = None

    @property
    def active(self) -> bool:
        """Applied and not yet healed."""
        return self.fault.applied

    def apply(self) -> FaultHandle:
        """Apply now (idempotent while it holds). ``applied_at`` is when the apply began."""
        if not self.fault.applied:
            self.applied_at = self._chaos.run.apply(self.name).t
        return self

    def heal(self) -> None:
        """Heal now (idempotent). ``healed_at`` is when the heal began, as an experiment
        times it: its first effect may be answered before the heal returns."""
        event = self._chaos.run.heal(self.name)
        if event is not None:
            self.healed_at = event.t

    def __enter__(self) -> FaultHandle:
        return self.apply()

    def __exit__(self, *exc: object) -> None:
        self.heal()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fault, name)

    def __repr__(self) -> str:
        state = "active" if self.active else "healed" if self.healed_at is not None else "idle"
        return f"<FaultHandle {self.name}: {self.fault.describe()} ({state})>"


class _LinkFaults:
    """``chaos.link(name)``: each of :class:`~chaoslib.faults.network.Link`'s fault builders,
    applied at once and returned as a :class:`FaultHandle`."""

    def __init__(self, link: Link, chaos: Chaos) -> None:
        self._link, self._chaos = link, chaos

    def __getattr__(self, name: str) -> Any:
        builder = getattr(self._link, name)
        if not callable(builder):
            return builder

        def build(*args: Any, **kwargs: Any) -> Any:
            made = builder(*args, **kwargs)
            return self._chaos.apply(made) if isinstance(made, Fault) else made

        return build


class _ServiceFaults:
    """``chaos.service(name)``: stop, kill, pause or restart it, applied at once."""

    def __init__(self, chaos: Chaos, name: str) -> None:
        self._chaos = chaos
        self.service = chaos.target.service(name)

    def _fault(self, action: str) -> FaultHandle:
        return self._chaos.apply(
            ServiceFault(self.service, action, ledger=self._chaos.target.ledger)
        )

    def stop(self) -> FaultHandle:
        return self._fault("stop")

    def kill(self) -> FaultHandle:
        return self._fault("kill")

    def pause(self) -> FaultHandle:
        return self._fault("pause")

    def restart(self, down_for: float = 0.0) -> FaultHandle:
        return self._chaos.apply(Restart(self.service, down_for, ledger=self._chaos.target.ledger))


class Chaos:
    """The per-test helper: faults that always heal, observers on one clock, checks."""

    observe = observe_module
    checks = checks_module

    def __init__(
        self, target: Target, *, clock: Clock = REAL_CLOCK, history: History | None = None
    ) -> None:
        self.target = target
        self.clock = clock
        self.history = history if history is not None else History()
        # The one runner every front end applies and heals through: it times each action
        # on this clock and records it in the history, as an experiment's run does.
        self.run = FaultRun(self.history, clock=clock)
        self.faults: list[FaultHandle] = []  # this test's only, in the order applied
        self._observers: list[Observer] = []

    @property
    def events(self) -> list[FaultEvent]:
        """Every apply and heal so far (a failed heal too, with its error), in order."""
        return self.run.events

    @property
    def env(self) -> Target:
        """The name :attr:`target` had before there was one Target."""
        return self.target

    def link(self, name: str) -> _LinkFaults:
        return _LinkFaults(self.target.link(name), self)

    def url(self, link: str) -> str:
        return self.target.url(link)

    def service(self, name: str) -> _ServiceFaults:
        return _ServiceFaults(self, name)

    def apply(self, fault: Fault, name: str | None = None) -> FaultHandle:
        """Apply any fault now (a partition, a flap, one of your own); healed at teardown."""
        # Two latencies on one link: latency@redis, then latency@redis#2.
        unique, n = name or fault.name, 1
        while unique in self.run.faults:
            n += 1
            unique = f"{name or fault.name}#{n}"
        self.run.add(unique, fault)
        handle = FaultHandle(unique, fault, self)
        self.faults.append(handle)
        return handle.apply()

    def watch(self, observer: Observer) -> Observer:
        """Start ``observer`` recording into :attr:`history` on :attr:`clock`; stopped at
        teardown, or at the end of a ``with`` block."""
        observer.history, observer.clock = self.history, self.clock
        self._observers.append(observer)
        return observer.start()

    def heal_all(self) -> None:
        """Heal the faults this test applied, last first; the proxy's other toxics and links
        (a user's own, another process's) are not touched. Raises the first heal error
        once every heal was tried."""
        # One hold around all the heals, as an experiment's: a Ctrl-C between two of them
        # would leave the rest in place. It is raised once every fault is healed.
        with signals_held():
            errors = _each(reversed(self.faults), lambda handle: handle.heal())
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Teardown: the observers stopped, then every fault healed."""
        _each(self._observers, lambda observer: observer.stop())
        self._observers.clear()
        self.heal_all()


def _each(items: Any, call: Callable[[Any], None]) -> list[Exception]:
    errors = []
    for item in list(items):
        try:
            call(item)
        except Exception as exc:
            logger.error("chaos cleanup: {}: {}", item, exc)
            errors.append(exc)
    return errors
