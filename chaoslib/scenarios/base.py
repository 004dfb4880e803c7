"""What every scenario is built from: the system, its contract, the observers, named checks.

A scenario is an :class:`~chaoslib.experiment.runner.Experiment` built from a profile:
its faults act on the system's per-client links and processes, its observers
record heartbeats, log lines, alert deliveries and which process is up, and each
check is one of the guide's "Expected Results" with a measured figure. Every
fact about the system comes from the profile's contract through :class:`ScenarioRun`;
one the profile does not declare raises :class:`~chaoslib.errors.MissingFact`,
which a check reports as *unknown* with the key that is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.errors import MissingFact
from chaoslib.experiment.checks import UNKNOWN, Verdict, failed, judged, unknown
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.observe import History, channel, logs, redis_ping, sql
from chaoslib.observe.base import Observer
from chaoslib.observe.processes import ProcessStates
from chaoslib.observe.webhook import WebhookSink
from chaoslib.profiles.contract import AlertDef, Contract
from chaoslib.scenarios import facts
from chaoslib.target.system import SystemBase

HEARTBEATS = facts.HEARTBEATS


@dataclass
class ScenarioRun:
    """One scenario's view of the system, its contract, its timings and its history."""

    system: SystemBase
    history: History
    sink: WebhookSink | None = None
    clock: Clock = REAL_CLOCK
    on_phase: Callable[[str, float], None] | None = None

    @property
    def contract(self) -> Contract:
        return self.system.profile.contract

    # -- timings ---------------------------------------------------------------------------
    def wait(self, key: str) -> float:
        return self.system.timing.wait(key)

    def limit(self, key: str) -> float:
        return self.system.timing.limit(key)

    def setting(self, key: str) -> float:
        settings = self.system.timing.settings
        if key not in settings:
            raise MissingFact(f"setting {key} (timings.*.settings.{key})")
        return settings[key]

    def setting_or(self, key: str, default: float) -> float:
        return self.system.timing.settings.get(key, default)

    def fresh(self) -> float:
        """How old a heartbeat may be and still describe a worker's current items."""
        return 3 * self.setting("heartbeat_interval") + 0.5

    # -- roles -----------------------------------------------------------------------------
    def _role(self, key: str) -> str:
        value = getattr(self.contract.roles, key)
        if not value:
            raise MissingFact(f"{key} (contract.roles.{key})")
        return value

    @property
    def coordinator(self) -> str:
        return self._role("coordinator")

    @property
    def victim(self) -> str:
        return self._role("victim")

    @property
    def survivor(self) -> str:
        return self._role("survivor")

    @property
    def workers(self) -> list[str]:
        if not self.contract.roles.workers:
            raise MissingFact("workers (contract.roles.workers)")
        return list(self.contract.roles.workers)

    def named(self, role: str, fallback: str) -> str:
        """A role's service name for a check's title, which must not fail to build."""
        return getattr(self.contract.roles, role) or fallback

    @property
    def services(self) -> list[str]:
        return list(self.system.profile.services)

    # -- the contract's other facts ----------------------------------------------------------
    def pattern(self, key: str, *groups: str) -> str:
        """A log pattern; with ``groups``, one of them must be a named group of it."""
        found = self.contract.log_patterns.get(key)
        if not found:
            raise MissingFact(f"log pattern {key} (contract.log_patterns.{key})")
        if groups and not set(groups) & self.contract.groups(key):
            wanted = " or ".join(f"(?P<{g}>…)" for g in groups)
            raise MissingFact(f"{wanted} group in contract.log_patterns.{key}")
        return found

    def alert(self, key: str) -> AlertDef:
        if key not in self.contract.alerts:
            raise MissingFact(f"alert {key} (contract.alerts.{key})")
        return self.contract.alerts[key]

    def metric(self, key: str) -> None:
        """Raise unless the heartbeat declares where the ``key`` counter sits."""
        if key not in self.contract.heartbeat.metrics:
            raise MissingFact(f"heartbeat metric {key} (contract.heartbeat.metrics.{key})")

    def heartbeat_fact(self, key: str) -> None:
        if not getattr(self.contract.heartbeat, key):
            raise MissingFact(f"heartbeat {key} (contract.heartbeat.{key})")

    def beats(
        self,
        history: History,
        worker: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[facts.Beat]:
        if not self.contract.heartbeat.channel:
            raise MissingFact("heartbeat channel (contract.heartbeat.channel)")
        return facts.beats(history, self.contract.heartbeat, worker, since, until)

    def expected_items(self, history: History, at: float) -> set[str] | int:
        """The items that should be monitored: listed in the contract, counted by the
        ``item_count`` setting, or else those the workers held at ``at`` (discovered)."""
        if self.contract.items:
            return set(self.contract.items)
        if "item_count" in self.system.timing.settings:
            return int(self.setting("item_count"))
        held = facts.items_at(self.beats(history, until=at), at, self.fresh())
        return {i for items in held.values() for i in items}

    # -- the experiment ----------------------------------------------------------------------
    def observers(self) -> list[Observer]:
        system, contract = self.system, self.contract
        found: list[Observer] = [
            ProcessStates(system.services),
            redis_ping(system.direct["redis"], name="up:redis", interval=0.1, deadline=1.0),
            sql(system.direct["postgres"], name="up:postgres", interval=0.1, deadline=2.0),
        ]
        if contract.heartbeat.channel:
            found.append(
                channel(system.direct["redis"], contract.heartbeat.channel, name=HEARTBEATS)
            )
        for name in system.profile.services:
            found.append(
                logs(
                    system.log_path(name), contract.log_patterns, name=f"log:{name}", interval=0.02
                )
            )
        alert_file = system.alert_log
        if contract.sinks.file_format and alert_file is not None:
            patterns = {
                key: contract.sinks.file_pattern(alert.file)
                for key, alert in contract.alerts.items()
                if alert.file
            }
            found.append(logs(alert_file, patterns, name=facts.ALERT_FILE, interval=0.02))
        if self.sink is not None:
            self.sink.history = self.history
        return found

    def experiment(self, name: str, *, observe_after: float) -> Experiment:
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
    breaks_with: tuple[str, ...] = ()  # the reference system's flags that must make it fail

    def experiment(self, run: ScenarioRun) -> Experiment:
        """The scenario, or, when the profile lacks a fact it cannot run without, an
        experiment that applies nothing and reports that fact as unknown."""
        try:
            return self.build(run)
        except MissingFact as missing:
            reason = f"{missing}: the scenario cannot run without it"
            exp = Experiment(
                name=self.name,
                history=run.history,
                steady_for=0.0,
                observe_after=0.0,
                profile=run.system.profile.name,
                timing=run.system.timing_name,
                clock=run.clock,
            )
            exp.checks = [check("runnable", f"{self.title} can run on this system",
                                lambda ctx: unknown(reason))]  # fmt: skip
            return exp


def check(key: str, name: str, fn: Callable[[RunContext], Verdict]) -> Check:
    """A check with a stable key (for the checklist) and the guide's wording as its name.

    A fact the profile does not declare makes it ``unknown`` with that fact named; a check
    that raises anything else is ``unknown`` with the error. Never a pass.
    """

    def run(ctx: RunContext) -> Verdict:
        try:
            verdict = fn(ctx)
        except MissingFact as missing:
            verdict = unknown(str(missing))
        except Exception as exc:
            verdict = Verdict(
                name, UNKNOWN, evidence=f"the check failed: {type(exc).__name__}: {exc}"
            )
        return dataclasses.replace(verdict, name=name, details={**verdict.details, "key": key})

    run.__name__ = key
    return run


def described(expected: set[str] | int) -> int:
    """How many items were expected: the heartbeat may name them (a set) or only count them."""
    return len(expected) if isinstance(expected, set) else expected


def steady_state(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        found = run.beats(ctx.history)
        if not found:
            return failed("no heartbeat was heard", unit="items")
        at = found[-1].t
        expected = run.expected_items(ctx.history, at)
        held = facts.items_at(found, at, run.fresh())
        flat = [i for items in held.values() for i in items]
        whole = set(flat) == expected if isinstance(expected, set) else len(set(flat)) == expected
        ok = bool(flat) and whole and len(flat) == len(set(flat)) and set(held) >= set(run.workers)
        silent = sorted(set(run.workers) - set(held))
        return judged(
            ok, len(set(flat)), described(expected), "items",
            f"{len(set(flat))} of {described(expected)} items on {len(held)} worker(s), "
            f"{len(flat) - len(set(flat))} on two workers"
            + (f"; not heard: {', '.join(silent)}" if silent else ""),
        )  # fmt: skip

    return check("steady", "every item is on exactly one worker before the fault", judge)
