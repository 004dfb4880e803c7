"""A static plan of the suite: each scenario built against a system where nothing runs.

:class:`PlanSystem` is a target whose services are constructed but never started, whose
links are the profile's, and whose Toxiproxy client and direct URLs point at a port
where nothing listens. Each scenario is built on it and each check is called once on an
empty history with a made-up fault timeline: a check that answers "the profile declares
no …" will be unknown in a real run for that reason; any other answer (no data, a refused
connection) means it reads only what a running system provides, so it can run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.errors import ChaosError, ConfigError
from chaoslib.experiment.journal import FaultEvent
from chaoslib.experiment.runner import RunContext
from chaoslib.faults.network import Link
from chaoslib.observe import History
from chaoslib.profiles.profile import Profile
from chaoslib.profiles.services import launch
from chaoslib.scenarios.base import ScenarioRun, ScenarioSpec
from chaoslib.target.system import SystemBase
from chaoslib.toxiproxy.client import Toxiproxy

MISSING = "the profile declares no"
# A timing or a key the profile lacks fails the check with a ConfigError: unknown in a real
# run too, so it is a planned unknown, not a plan artefact such as a refused connection.
BROKEN = "the check failed: ConfigError: "
# The work directory a plan names and never uses: it writes no log and no alert file.
NOWHERE = Path("/nonexistent/chaoslib-plan")


@contextmanager
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening, so nothing else
    can take it while the plan runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class PlannedService:
    """A service in name only: every action refuses, so a plan can never start one."""

    kind = "planned"

    def __init__(self, name: str) -> None:
        self.name = name

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise ChaosError(f"{self.name}: a static plan starts and stops nothing")

    start = stop = kill = pause = resume = restart = _refuse

    def is_running(self) -> bool:
        return False

    @property
    def pid(self) -> int | None:
        return None

    @property
    def address(self) -> tuple[str, int]:
        return ("", 0)

    @property
    def url(self) -> str:
        return ""

    @property
    def log_path(self) -> str:
        return str(NOWHERE / f"{self.name}.log")


class PlanToxiproxy(Toxiproxy):
    """chaoslib's own proxy, as far as a plan asks: it has every extension toxic."""

    def supports(self, proxy: str, toxic_type: str) -> bool:
        return True


class _Seen(dict):
    """A timing section that remembers which keys a scenario read."""

    def __init__(self, data: dict[str, float], seen: dict[str, float]) -> None:
        super().__init__(data)
        self.seen = seen

    def _note(self, key: str) -> None:
        if dict.__contains__(self, key):
            self.seen[key] = dict.__getitem__(self, key)

    def __getitem__(self, key: str) -> float:
        self._note(key)
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        self._note(str(key))
        return dict.__contains__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        self._note(key)
        return dict.get(self, key, default)


class SeenTiming:
    """The profile's timing set, recording each wait, limit and setting read."""

    def __init__(self, profile: Profile, name: str) -> None:
        chosen = profile.timing(name)
        self.env = chosen.env
        self.used: dict[str, dict[str, float]] = {"waits": {}, "limits": {}, "settings": {}}
        self.waits = _Seen(chosen.waits, self.used["waits"])
        self.limits = _Seen(chosen.limits, self.used["limits"])
        self.settings = _Seen(chosen.settings, self.used["settings"])
        self._timing = chosen

    def wait(self, key: str) -> float:
        self._timing.wait(key)  # its error, for a wait the profile lacks
        return self.waits[key]

    def limit(self, key: str) -> float:
        self._timing.limit(key)
        return self.limits[key]


class PlanSystem(SystemBase):
    """The profile's target with nothing running: what a scenario builds on, for a plan."""

    def __init__(self, profile: Profile, timing: str, port: int, fragile: str = "") -> None:
        super().__init__(profile, timing, NOWHERE, fragile=fragile,
                         webhook_url=f"http://127.0.0.1:{port}/")  # fmt: skip
        self.seen = SeenTiming(profile, timing)
        self.timing = self.seen  # type: ignore[assignment]
        self.toxiproxy = PlanToxiproxy(f"http://127.0.0.1:{port}", timeout=1.0)
        self.direct = {
            "redis": f"redis://127.0.0.1:{port}/0",
            "postgres": f"postgresql://chaoslib@127.0.0.1:{port}/chaoslib?connect_timeout=1",
        }
        self.port = port
        self.used_services: list[str] = []
        self.used_links: list[str] = []

    @staticmethod
    def _use(into: list[str], name: str) -> None:
        if name not in into:
            into.append(name)

    def use_service(self, name: str) -> None:
        """Note a service the scenario acts on or reads by its role."""
        self._use(self.used_services, name)

    def stack_service(self, name: str) -> PlannedService:
        self.use_service(f"{name} (stack server)")
        return PlannedService(name)

    def service(self, name: str) -> PlannedService:  # type: ignore[override]
        if name not in self.profile.services:
            raise ConfigError(f"unknown service {name!r} in profile {self.profile.name}")
        self.use_service(name)
        return self.services.setdefault(name, PlannedService(name))  # type: ignore[return-value]

    def link(self, name: str) -> Link:
        found = super().link(name)
        self._use(self.used_links, name)
        return found

    def links_to(self, stack_service: str, client: str | None = None) -> list[str]:
        found = super().links_to(stack_service, client)
        for name in found:
            self._use(self.used_links, name)
        return found

    def probe_url(self, link: str) -> str | None:
        """A URL through each link, as the embedded stack gives: here, to nothing."""
        if link not in self.profile.links:
            return None
        server = self.profile.links[link].service
        return self.direct["redis" if server == "redis" else "postgres"]

    def launch_problems(self) -> list[str]:
        """Why a process service could not be launched as written (a program not found,
        a ``${VAR}`` not set): what ``start_all`` would stop at."""
        problems = []
        for name, svc in self.profile.services.items():
            if svc.backend != "process":
                continue
            given = {**self.profile.env_for(self.timing_name), **self.chaos_vars(name)}
            try:
                launch(svc, {**os.environ, **given})
            except ConfigError as exc:
                problems.append(str(exc))
        return problems


class PlanRun(ScenarioRun):
    """A scenario's view of the plan system that records the roles it reads."""

    system: PlanSystem

    def _role(self, key: str) -> str:
        value = super()._role(key)
        self.system.use_service(value)
        return value

    @property
    def workers(self) -> list[str]:
        found = super().workers
        for name in found:
            self.system.use_service(name)
        return found


@dataclass(frozen=True)
class CheckPlan:
    key: str
    name: str
    runnable: bool
    reason: str = ""  # why it will be unknown: the fact the profile lacks


@dataclass(frozen=True)
class ScenarioPlan:
    name: str
    test: int
    title: str
    faults: tuple[str, ...]
    services: tuple[str, ...]
    links: tuple[str, ...]
    timings: dict[str, dict[str, float]]  # waits / limits / settings -> key -> value
    checks: tuple[CheckPlan, ...]
    error: str = ""  # the scenario cannot be built at all (a real run would abort it)
    unplanned: str = ""  # building it needs a running system, so no plan says more

    @property
    def unknown(self) -> list[CheckPlan]:
        return [c for c in self.checks if not c.runnable]


def classify(evidence: str) -> tuple[bool, str]:
    """Whether a check answered as one that can run, else the reason it will be unknown."""
    if evidence.startswith(MISSING):
        return False, evidence
    if evidence.startswith(BROKEN):
        return False, evidence.removeprefix(BROKEN)
    return True, ""


def plan_scenario(
    spec: ScenarioSpec, profile: Profile, timing: str, fragile: str = ""
) -> ScenarioPlan:
    with dead_port() as port:
        system = PlanSystem(profile, timing, port, fragile)
        run = PlanRun(system, History())
        try:
            exp = spec.experiment(run)
        except ChaosError as exc:  # a real run stops at the same error
            return ScenarioPlan(spec.name, spec.test, spec.title, (), (), (), {}, (), str(exc))
        except Exception as exc:  # building it reached for the running system
            return ScenarioPlan(spec.name, spec.test, spec.title, (), (), (), {}, (),
                                unplanned=f"{type(exc).__name__}: {exc}")  # fmt: skip
        faults = [FaultEvent(name, action, t, t, step.fault.describe())
                  for name, step in exp.steps.items()
                  for action, t in (("apply", 1.0), ("heal", 2.0))]  # fmt: skip
        checks = []
        for fn in [*exp.steady_state, *exp.checks]:
            verdict = fn(RunContext(History(), faults=list(faults)))
            runnable, reason = classify(verdict.evidence)
            key = str(verdict.details.get("key", getattr(fn, "__name__", "")))
            checks.append(CheckPlan(key, verdict.name, runnable, reason))
    described = tuple(f"{name}: {step.fault.describe()}, " + ", ".join(
        f"{w.start:g}-{w.end:g} s" for w in step.windows) for name, step in exp.steps.items())  # fmt: skip
    used = system.seen.used
    return ScenarioPlan(
        spec.name, spec.test, spec.title, described, tuple(system.used_services),
        tuple(system.used_links), {k: dict(sorted(v.items())) for k, v in used.items()},
        tuple(checks),
    )  # fmt: skip
