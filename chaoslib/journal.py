"""The journal: a typed, serialisable record of one experiment run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoslib.checks import Verdict
from chaoslib.observe.history import Event

# inconclusive: no check failed but one could not be judged (a fact it needs is missing);
# a missing fact is never a pass, and never a fail either.
STATUSES = ("passed", "failed", "inconclusive", "aborted", "interrupted")


@dataclass(frozen=True)
class FaultEvent:
    fault: str
    action: str  # "apply" or "heal"
    t: float  # experiment clock, seconds since the run started
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
    steady_state: tuple[Verdict, ...] = ()
    faults: tuple[FaultEvent, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    events: tuple[Event, ...] = ()
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def fault_window(self, fault: str) -> tuple[float, float] | None:
        applies = [f.t for f in self.faults if f.fault == fault and f.action == "apply"]
        heals = [f.t for f in self.faults if f.fault == fault and f.action == "heal"]
        if not applies:
            return None
        return min(applies), max(heals) if heals else self.ended_at

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "profile": self.profile,
            "timing": self.timing,
            "status": self.status,
            "deviated": self.deviated,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "error": self.error,
            "timings": self.timings,
            "steady_state": [v.to_json() for v in self.steady_state],
            "faults": [f.__dict__ for f in self.faults],
            "checks": [v.to_json() for v in self.verdicts],
            "events": [e.to_json() for e in self.events],
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        return path
