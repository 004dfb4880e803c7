"""What a task holds and how its run ended: the records the hold loop and its output share.

Their own module, so that :mod:`.hold` (the loop) and :mod:`.hold_output` (what it
prints) both read them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaoslib.cli import measure
from chaoslib.experiment.checks import Verdict
from chaoslib.experiment.journal import Journal
from chaoslib.experiment.runner import RunContext
from chaoslib.faults.base import Fault
from chaoslib.faults.owners import Claim
from chaoslib.faults.schedule import Window


@dataclass
class Held:
    """One fault a task holds, and what the task knows about it."""

    task: str  # e.g. "db-slow": the experiment's name
    fault: Fault
    links: list[str]
    windows: Sequence[Window]
    recover_within: float
    added: float = 0.0  # seconds the fault adds to one probe answer (0: none expected)
    flapping: bool = False
    report_dir: str | None = None
    profile: str = "local"  # as the journal names it
    checks: list[Callable[[RunContext], Verdict]] = field(default_factory=list)
    on_apply: list[Callable[[float], None]] = field(default_factory=list)  # (when) at apply
    lines: list[Callable[[], list[str]]] = field(default_factory=list)  # measured, printed
    own_matches: Callable[[], int] = lambda: 0  # statements the task built to match
    # When the first apply had returned: a probe begun before may still have got through.
    in_place_at: float | None = None
    overlapping: list[Claim] = field(default_factory=list)  # other live faults on the links


@dataclass
class Outcome:
    journal: Journal
    journal_path: Path | None
    interrupted_by: int | None
    failure: BaseException | None  # what aborted the run (a refused claim, a failed apply)
    timing: measure.Timing | None = None

    @property
    def passed(self) -> bool:
        return self.journal.status in ("passed", "inconclusive")
