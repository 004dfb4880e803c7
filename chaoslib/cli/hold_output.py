"""What a held fault shows and leaves: progress while it holds, its journal, its verdicts.

While a fault holds, a terminal shows a bar counting the hold down, gone once the hold
ends so that what stays on the screen is what happened; a log or a pipe gets one line
instead (a bar redrawn into a file is noise). A hold until Ctrl-C says so in a line.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from chaoslib.cli.effect import members
from chaoslib.cli.output import console
from chaoslib.durations import format_duration
from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN
from chaoslib.experiment.journal import Journal
from chaoslib.experiment.runner import Experiment
from chaoslib.faults.base import Fault
from chaoslib.faults.network import LinkDown
from chaoslib.state import chaos_home

if TYPE_CHECKING:  # hold imports this module: only its types are needed here
    from chaoslib.cli.hold_records import Held, Outcome


class _Countdown(Progress):
    """A bar whose progress is the time held. The runner's thread sleeps through the
    hold, so the bar reads the time when rich's own refresh thread redraws it."""

    def get_renderables(self) -> Iterable[RenderableType]:
        for t in self.tasks:
            held = min(t.total or 0.0, t.elapsed or 0.0)
            left = format_duration(round(max(0.0, (t.total or 0.0) - held), 1))
            self.update(t.id, completed=held, left=f"{left} left")
        yield from super().get_renderables()


class HoldProgress:
    """The progress of one hold: :meth:`start` when it begins, :meth:`stop` when it ends
    (again is harmless: a heal, an interrupt and the end of the run may each call it)."""

    def __init__(self, what: str = "the fault", out: Console | None = None) -> None:
        self.what = what
        self.out = out or console
        self._bar: _Countdown | None = None

    def start(self, seconds: float) -> None:
        self.stop()
        what = escape(self.what)
        if seconds == math.inf:  # said before the apply: a Ctrl-C may come as soon as it shows
            self.out.print(f"Holding {what} until Ctrl-C…")
        elif not self.out.is_terminal or self.out.is_dumb_terminal:
            self.out.print(f"Holding {what} for {format_duration(seconds)}…")
        else:
            bar = _Countdown(TextColumn("{task.description}"), BarColumn(),
                             TextColumn("{task.fields[left]}"), console=self.out,
                             transient=True)  # fmt: skip
            bar.add_task(f"Holding {what} for {format_duration(seconds)}", total=seconds, left="")
            bar.start()
            self._bar = bar

    def stop(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.stop()

    def run(self, exp: Experiment) -> Journal:
        """``exp.run()``, showing the hold from its faults phase until the next phase or
        the run's end (a refused apply, a signal), whichever comes first."""
        own = exp.on_phase

        def on_phase(phase: str, seconds: float) -> None:
            if phase == "faults":
                self.start(seconds)
            else:
                self.stop()
            if own is not None:
                own(phase, seconds)

        exp.on_phase = on_phase
        try:
            journal = exp.run()
        finally:
            self.stop()
            exp.on_phase = own
        # A signal mid-apply: the fault undid its part, so no "Applied" or "Healed" line
        # will come; say so, or the run ends without naming the fault at all.
        undone = [e for e in journal.faults if e.action == "apply" and e.error]
        if exp.interrupted_by is not None:
            for event in undone:
                self.out.print(f"Interrupted while applying: {escape(event.description)}; "
                               "what it had set is removed")  # fmt: skip
        return journal


def journal_path(task: str, report_dir: str | None) -> Path:
    """``--report-dir``, else ``$CHAOS_REPORT_DIR``, else the chaos home's ``reports``,
    each with ``<time>-<task>/``. Not ``./reports``: a task run from a checkout's tests
    would write into the checkout."""
    if report_dir:
        return Path(report_dir) / "journal.json"
    base = os.environ.get("CHAOS_REPORT_DIR")
    root = Path(base) if base else chaos_home() / "reports"
    return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}" / "journal.json"


def write_journal(journal: Journal, task: str, report_dir: str | None) -> Path | None:
    """The journal written where :func:`journal_path` says; a directory that cannot be
    written is said, not raised: the fault is healed and its verdicts still count."""
    try:
        return journal.write(journal_path(task, report_dir))
    except OSError as exc:
        console.print(f"[red]Could not write the journal: {escape(str(exc))}[/]")
        return None


def say_left_down(fault: Fault) -> None:
    left = sorted({p for m in members(fault) if isinstance(m, LinkDown) for p in m.left_down})
    if left:
        console.print(
            f"Still down for another fault that holds {'them' if len(left) > 1 else 'it'}: "
            f"{escape(', '.join(left))} (up again when that one heals)"
        )


MARKS = {PASS: "[green]✅[/]", FAIL: "[red]❌[/]", UNKNOWN: "❔"}


def report(outcome: Outcome, held: Held) -> None:
    j = outcome.journal
    for v in j.steady_state:
        if v.status != PASS:
            console.print(f"{MARKS[v.status]} {escape(v.name)}: {escape(v.evidence)}")
    for lines in (f() for f in held.lines) if j.verdicts else ():
        for text in lines:
            console.print(f"   {escape(text)}")
    for v in j.verdicts:
        if v.name == "the fault touched its links":
            text = {PASS: "[green]✅[/] the fault touched its links",
                    FAIL: "[red]❌ the fault touched nothing",
                    UNKNOWN: "❔ unknown whether the fault touched its links"}[v.status]  # fmt: skip
            console.print(f"{text}: {escape(v.evidence)}{'[/]' if v.status == FAIL else ''}")
        else:
            console.print(f"{MARKS[v.status]} {escape(v.name)}: {escape(v.evidence)}")
    t = outcome.timing
    if t is not None and j.verdicts:
        detect = (f"{t.detected_at:g}s (from the apply to {t.detected_by})"
                  if t.detected_at is not None else f"– ({t.detected_by})")  # fmt: skip
        recover = (f"{t.recovered_at:g}s (from the heal to {t.recovered_by})"
                   if t.recovered_at is not None else f"– ({t.recovered_by})")  # fmt: skip
        console.print(f"   time to detect: {escape(detect)}")
        console.print(f"   time to recover: {escape(recover)}")
    for v in j.steady_state_after:
        console.print(f"{MARKS[v.status]} {escape(v.name)}: {escape(v.evidence)}")
    if j.status == "aborted" and j.error:
        console.print(f"[red]{escape(j.experiment)} aborted: {escape(j.error)}[/]")
    if outcome.journal_path is not None:
        console.print(f"Journal: {escape(str(outcome.journal_path))}")
