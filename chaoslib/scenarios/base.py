"""What every scenario is built from: the system, the observers, named checks.

A scenario is an :class:`~chaoslib.experiment.Experiment` built from a profile:
its faults act on the system's per-client links and processes, its observers
record heartbeats, log lines, webhook deliveries and which process is up,
and each check is one of the guide's "Expected Results" with a measured figure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from chaoslib.checks import UNKNOWN, Verdict
from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.experiment import Check, Experiment, RunContext
from chaoslib.observe import History, channel, logs, redis_ping, sql
from chaoslib.observe.base import Observer
from chaoslib.observe.processes import ProcessStates
from chaoslib.observe.webhook import WebhookSink
from chaoslib.system import SystemBase

HEARTBEATS = "hb"


@dataclass
class ScenarioRun:
    """One scenario's view of the system, its timings and its history."""

    system: SystemBase
    history: History
    sink: WebhookSink | None = None
    clock: Clock = REAL_CLOCK
    on_phase: Callable[[str, float], None] | None = None

    def wait(self, key: str) -> float:
        return self.system.timing.wait(key)

    def limit(self, key: str) -> float:
        return self.system.timing.limit(key)

    def env(self, key: str) -> float:
        return float(self.system.timing.env[key])

    def pattern(self, key: str) -> str:
        return self.system.profile.contract.log_patterns[key]

    def alert_name(self, key: str) -> str:
        return self.system.profile.contract.alerts[key]

    @property
    def shards(self) -> list[str]:
        return self.system.profile.shards()

    @property
    def services(self) -> list[str]:
        return list(self.system.profile.services)

    def observers(self) -> list[Observer]:
        system, contract = self.system, self.system.profile.contract
        found: list[Observer] = [
            channel(system.direct["redis"], contract.heartbeat_channel, name=HEARTBEATS),
            ProcessStates(system.services),
            redis_ping(system.direct["redis"], name="up:redis", interval=0.1, deadline=1.0),
            sql(system.direct["postgres"], name="up:postgres", interval=0.1, deadline=2.0),
        ]
        for name in system.profile.services:
            found.append(
                logs(
                    system.log_path(name), contract.log_patterns, name=f"log:{name}", interval=0.02
                )
            )
        if self.sink is not None:
            self.sink.history = self.history
        return found

    def experiment(self, name: str, *, observe_after: float) -> Experiment:
        from chaoslib.scenarios.common import steady_state

        return Experiment(
            name=name,
            observers=self.observers(),
            steady_state=[steady_state(self)],
            history=self.history,
            steady_for=self.wait("steady"),
            observe_after=observe_after,
            profile=self.system.profile.name,
            timing=self.system.timing_name,
            clock=self.clock,
            on_phase=self.on_phase,
        )


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    test: int  # the guide's test number
    title: str
    objective: str
    build: Callable[[ScenarioRun], Experiment]
    breaks_with: tuple[str, ...] = ()  # FRAGILE flags that must make it fail


def check(key: str, name: str, fn: Callable[[RunContext], Verdict]) -> Check:
    """A check with a stable key (for the checklist) and the guide's wording as its name.

    A check that raises is reported as ``unknown`` with the reason, never as a pass.
    """

    def run(ctx: RunContext) -> Verdict:
        try:
            verdict = fn(ctx)
        except Exception as exc:
            verdict = Verdict(
                name, UNKNOWN, evidence=f"the check failed: {type(exc).__name__}: {exc}"
            )
        return dataclasses.replace(verdict, name=name, details={**verdict.details, "key": key})

    run.__name__ = key
    return run
