"""The journal: a typed, serialisable record of one experiment run.

In its JSON every time of day is ISO-8601 in UTC, and every ``t`` is seconds since
the run started: the experiment clock is monotonic, and its raw readings mean
nothing outside the process that took them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from chaoslib.experiment.checks import Verdict
from chaoslib.experiment.files import iso_time, write_text
from chaoslib.observe.history import Event

# inconclusive: no check failed but one could not be judged (a fact it needs is missing);
# a missing fact is never a pass, and never a fail either.
STATUSES = ("passed", "failed", "inconclusive", "aborted", "interrupted")


def chaoslib_version() -> str:
    """The installed distribution's version, else the package's own (a source checkout)."""
    try:
        return metadata.version("chaoslib")
    except metadata.PackageNotFoundError:
        import chaoslib

        return getattr(chaoslib, "__version__", "unknown")


@dataclass(frozen=True)
class FaultEvent:
    fault: str
    action: str  # "apply" or "heal"
    t: float  # experiment clock (monotonic); the journal's JSON counts it from the run's start
    wall: float
    description: str
    error: str | None = None


@dataclass(frozen=True)
class Journal:
    experiment: str
    profile: str
    timing: str
    status: str
    started_at: float  # wall clock
    ended_at: float
    deviated: bool  # the steady state failed before or after the faults
    steady_state: tuple[Verdict, ...] = ()  # before the faults
    faults: tuple[FaultEvent, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    events: tuple[Event, ...] = ()
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    steady_state_after: tuple[Verdict, ...] = ()  # the same checks, once the faults are healed
    clock_origin: float | None = None  # the experiment clock when the run started

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def duration(self) -> float:
        return max(0.0, self.ended_at - self.started_at)

    @property
    def origin(self) -> float:
        """The experiment clock's reading at the start: as recorded, else worked out from a
        fault's (clock, wall) pair, else the first observation."""
        if self.clock_origin is not None:
            return self.clock_origin
        for f in self.faults:
            return f.t - (f.wall - self.started_at)
        return min((e.t for e in self.events), default=0.0)

    def since_start(self, t: float) -> float:
        """A reading of the experiment clock as seconds since the run started."""
        return round(t - self.origin, 3)

    def fault_window(self, fault: str) -> tuple[float, float] | None:
        applies = [f.t for f in self.faults if f.fault == fault and f.action == "apply"]
        heals = [f.t for f in self.faults if f.fault == fault and f.action == "heal"]
        if not applies:
            return None
        return min(applies), max(heals) if heals else self.ended_at

    def fault_json(self) -> list[dict[str, Any]]:
        return [
            {"fault": f.fault, "action": f.action, "t": self.since_start(f.t),
             "at": iso_time(f.wall), "description": f.description, "error": f.error}
            for f in self.faults
        ]  # fmt: skip

    def _event(self, e: Event) -> dict[str, Any]:
        data = e.to_json()
        del data["t"], data["wall"]
        return {"t": self.since_start(e.t), "at": iso_time(e.wall), **data}

    def to_json(self) -> dict[str, Any]:
        return {
            "chaoslib_version": chaoslib_version(),
            "experiment": self.experiment,
            "profile": self.profile,
            "timing": self.timing,
            "status": self.status,
            "deviated": self.deviated,
            "started_at": iso_time(self.started_at),
            "ended_at": iso_time(self.ended_at),
            "duration_s": round(self.duration, 3),
            "error": self.error,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "steady_state": [v.to_json() for v in self.steady_state],
            "steady_state_after": [v.to_json() for v in self.steady_state_after],
            "faults": self.fault_json(),
            "checks": [v.to_json() for v in self.verdicts],
            "events": [self._event(e) for e in self.events],
        }

    def write(self, path: str | Path) -> Path:
        text = json.dumps(self.to_json(), indent=2, default=str) + "\n"
        return write_text(Path(path), text)
