"""The suite: the chaos guide end to end, on its own stack, one scenario after another.

It starts an owned stack (Redis with persistence, PostgreSQL, the proxy) and
the profile's system, checks a quiet period first (no false positives), then
runs each scenario from a clean slate. Every process it starts dies with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from chaoslib import scenarios
from chaoslib.experiment.checks import FAIL, PASS, Verdict
from chaoslib.experiment.journal import Journal
from chaoslib.experiment.runner import Experiment, RunContext
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.signals import Terminated, heal_on_signals, signals_held
from chaoslib.observe import History
from chaoslib.observe.webhook import WebhookSink
from chaoslib.profiles import Profile, load_profile
from chaoslib.scenarios import facts
from chaoslib.scenarios.base import ScenarioRun, check
from chaoslib.services.stack import Stack, StackConfig
from chaoslib.state import chaos_home
from chaoslib.target.system import LocalSystem, SystemBase

STEADY = "steady-state"
Progress = Callable[[str, str, float], None]  # (scenario, phase, seconds)


@dataclass(frozen=True)
class SuiteConfig:
    profile: str = "local"
    timing: str = "fast"
    only: str | None = None
    fragile: str = ""
    report_dir: Path | None = None
    home: Path | None = None
    force: bool = False  # run even on a profile marked protected: true
    allow_reset_data: bool = False  # compose: wipe a disposable project chaoslib did not create


@dataclass
class SuiteResult:
    profile: Profile
    timing: str
    fragile: str
    report_dir: Path
    journals: list[Journal] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    ended_at: float = 0.0
    error: str | None = None
    interrupted: bool = False

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.error or not self.journals:
            return "aborted"
        statuses = {j.status for j in self.journals}
        if statuses <= {"passed"}:
            return "passed"
        # Unknown checks are not failures, but a suite with one is not a pass either.
        return "inconclusive" if statuses <= {"passed", "inconclusive"} else "failed"

    def journal(self, name: str) -> Journal | None:
        return next((j for j in self.journals if j.experiment == name), None)

    def verdict(self, scenario: str, key: str) -> Verdict | None:
        journal = self.journal(scenario)
        if journal is None:
            return None
        return next((v for v in journal.verdicts if v.details.get("key") == key), None)


def default_report_dir() -> Path:
    return Path("reports") / time.strftime("%Y%m%d-%H%M%S")


def _quiet_period(run: ScenarioRun) -> Experiment:
    """Nothing is wrong: no alert, no error line, no shard marked Dead (no false positives)."""

    def judge(ctx: RunContext) -> Verdict:
        alerts = ctx.history.select(kind="delivery")
        errors = facts.log_lines(ctx.history, None, "error")
        dead = facts.log_lines(ctx.history, None, "worker_dead")
        bad = len(alerts) + len(errors) + len(dead)
        evidence = f"{len(alerts)} alerts, {len(errors)} error lines, {len(dead)} dead marks" + (
            f"; e.g. {(errors or dead)[0].detail[:120]}" if errors or dead else ""
        )
        return Verdict("", FAIL if bad else PASS, bad, 0, "events", evidence)

    exp = run.experiment(STEADY, observe_after=0.0)
    exp.steady_for = run.wait("stabilize")
    exp.checks = [check("no_false_positives", "No false positives while nothing is wrong", judge)]
    return exp


class Suite:
    def __init__(self, config: SuiteConfig, *, progress: Progress | None = None) -> None:
        self.config = config
        self.profile = load_profile(config.profile)
        self.profile.guard(config.force)
        self.profile.timing(config.timing)  # fail early on a bad timing name
        self.fragile = self.profile.check_fragile(config.fragile)
        self.specs = scenarios.select(config.only)
        self.report_dir = Path(config.report_dir or default_report_dir())
        self.progress = progress
        self.system: SystemBase | None = None
        self._stop: list[Callable[[], None]] = []

    def _phase(self, scenario: str) -> Callable[[str, float], None]:
        def report(phase: str, seconds: float) -> None:
            if self.progress:
                self.progress(scenario, phase, seconds)

        return report

    def run(self) -> SuiteResult:
        result = SuiteResult(self.profile, self.config.timing, self.fragile, self.report_dir)
        home = chaos_home(self.config.home) / "suite"
        self.report_dir.mkdir(parents=True, exist_ok=True)
        self._stop: list[Callable[[], None]] = []
        with heal_on_signals():
            try:
                self._run_all(result, home)
            except (KeyboardInterrupt, Terminated) as exc:
                result.error = f"interrupted ({exc or type(exc).__name__}); every fault was healed"
                result.interrupted = True
            except Exception as exc:
                logger.exception("the suite stopped")
                result.error = f"{type(exc).__name__}: {exc}"
            finally:
                try:
                    with signals_held():  # a second Ctrl-C must not leave processes behind
                        for stop in reversed(self._stop):
                            try:
                                stop()
                            except Exception as exc:
                                logger.error("while stopping: {}", exc)
                except (KeyboardInterrupt, Terminated) as exc:  # arrived while stopping
                    result.error = result.error or f"interrupted ({exc or type(exc).__name__})"
                    result.interrupted = True
                result.ended_at = time.time()
        return result

    def _start(self, home: Path) -> tuple[SystemBase, WebhookSink]:
        """The stack, the webhook sink and the system: embedded, or a compose project."""
        common: dict[str, Any] = {"fragile": self.fragile, "ledger": Ledger(home)}
        if self.profile.compose is not None:
            return self._start_compose(home, common)
        stack = Stack(StackConfig(home=home, redis_persistence=True, owned=True))
        self._stop.append(stack.stop)
        self._phase("setup")("starting the stack", 0)
        stack.start()
        sink = WebhookSink(History(), name="webhook")
        sink.start()
        self._stop.append(sink.stop)
        local = LocalSystem(
            self.profile, self.config.timing, stack, self.report_dir, webhook_url=sink.url, **common
        )
        self._stop.append(local.stop_all)
        return local, sink

    def _start_compose(self, home: Path, common: dict[str, Any]) -> tuple[SystemBase, WebhookSink]:
        """A running project is attached to (alerts reach the sink only on the profile's
        ``webhook_port``); otherwise chaoslib creates the project, pointed at its sink."""
        from chaoslib.target.compose_system import ComposeSystem, bridge_gateway

        system = ComposeSystem(
            self.profile, self.config.timing, self.report_dir, home=home,
            allow_reset_data=self.config.allow_reset_data, **common,
        )  # fmt: skip
        attached = system.is_running()
        port = self.profile.compose.webhook_port if attached else 0  # type: ignore[union-attr]
        # Containers post alerts to the host's bridge address, not to loopback.
        sink = WebhookSink(History(), name="webhook", host=bridge_gateway(system.client), port=port)
        sink.start()
        self._stop.append(sink.stop)
        reachable = port or not attached
        system.webhook_url = f"http://host.docker.internal:{sink.port}/" if reachable else ""
        self._stop.append(system.down)
        self._phase("setup")(
            "attaching to the running project" if attached else "docker-compose up", 0
        )
        return system, sink

    def _run_all(self, result: SuiteResult, home: Path) -> None:
        system, sink = self._start(home)
        self.system = system
        self._phase("setup")("starting the system", 0)
        system.start_all()
        system.wait_steady(system.settle_time())
        self._run_one(result, system, sink, _quiet_period, STEADY)
        for spec in self.specs:
            self._phase(spec.name)("resetting to a healthy state", 0)
            system.reset()
            system.wait_steady(system.settle_time())
            journal = self._run_one(result, system, sink, spec.experiment, spec.name)
            if journal.status == "interrupted":
                result.interrupted = True
                break

    def _run_one(
        self,
        result: SuiteResult,
        system: SystemBase,
        sink: WebhookSink,
        build: Callable[[ScenarioRun], Experiment],
        name: str,
    ) -> Journal:
        run = ScenarioRun(system, History(), sink, on_phase=self._phase(name))
        journal = build(run).run()
        result.journals.append(journal)
        logger.info("{}: {}", name, journal.status)
        return journal
