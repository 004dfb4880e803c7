"""What ``chaos.suite`` shows: live progress while it runs, then the guide's checklist."""

from __future__ import annotations

import sys
import threading
import time

from rich.live import Live
from rich.markup import escape
from rich.text import Text

from chaoslib.cli.output import console
from chaoslib.experiment.checks import UNKNOWN
from chaoslib.reports.journal import counts_text, unknown_checks
from chaoslib.scenarios.checklist import NOT_RUN, LineResult, checklist, mark, performance
from chaoslib.scenarios.suite import SuiteResult


class Progress:
    """The scenario, its phase and the time left in the current wait.

    On a terminal it is a rich live line; piped (CI logs) it prints one line per phase.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done: list[str] = []
        self.scenario, self.phase = "setup", "starting"
        self.until = 0.0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.live = Live(self, console=console, refresh_per_second=4, transient=True)
        self.interactive = sys.stdout.isatty()

    def __rich__(self) -> Text:
        with self._lock:
            left = max(0.0, self.until - time.monotonic())
            wait = f" · {left:4.1f}s left" if left > 0 else ""
            return Text.from_markup(
                f"[bold]{escape(self.scenario)}[/] ({len(self.done)}/{self.total} done) · "
                f"{escape(self.phase)}{wait} · {time.monotonic() - self.started:5.1f}s elapsed"
            )

    def __call__(self, scenario: str, phase: str, seconds: float) -> None:
        with self._lock:
            if scenario != self.scenario and self.scenario not in ("setup", "steady-state"):
                self.done.append(self.scenario)
            self.scenario, self.phase = scenario, phase
            self.until = time.monotonic() + seconds
        if not self.interactive:
            hold = f" ({seconds:g}s)" if seconds else ""
            console.print(f"[{time.monotonic() - self.started:6.1f}s] {scenario}: {phase}{hold}")

    def __enter__(self) -> Progress:
        if self.interactive:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.interactive:
            self.live.stop()


def _line(r: LineResult) -> str:
    text = escape(r.line.text)
    if r.status == NOT_RUN:
        return f"  {mark(r.status)} [dim]{text} (not run)[/]"
    why = "" if r.status == "pass" else f"\n       [dim]{escape(r.evidence[:200])}[/]"
    return f"  {mark(r.status)} {text}: [bold]{escape(r.figure())}[/]{why}"


def print_checklist(result: SuiteResult) -> None:
    console.print("\n[bold underline]Success Criteria Checklist[/]")
    section = None
    for r in checklist(result):
        if r.line.section != section:
            section = r.line.section
            console.print(f"[bold]{section}[/]")
        console.print(_line(r))
    console.print("\n[bold underline]Performance Metrics[/]")
    for r in performance(result):
        console.print(_line(r))


# inconclusive is not a failure (nothing failed) and not a pass (something went unjudged).
COLOURS = {"passed": "green", "inconclusive": "yellow"}  # anything else: red


def print_scenarios(result: SuiteResult) -> None:
    console.print("\n[bold underline]Scenarios[/]")
    for j in result.journals:
        colour = COLOURS.get(j.status, "red")
        failing = [v for v in (*j.steady_state, *j.verdicts) if v.status != "pass"]
        console.print(
            f"  [{colour}]{j.status:12}[/] {j.experiment:24} {j.ended_at - j.started_at:5.1f}s"
            + (f"  {escape(j.error)}" if j.error else "")
        )
        for v in failing:
            # An unknown's reason says which fact to declare: it is shown whole.
            reason = v.evidence if v.status == UNKNOWN else v.evidence[:160]
            console.print(f"               {mark(v.status)} {escape(v.name)}: {escape(reason)}")


def print_summary(result: SuiteResult) -> None:
    """``suite <status> in <s>: <counts per status>``, and why an inconclusive suite is one."""
    colour = COLOURS.get(result.status, "red")
    console.print(
        f"\n[{colour} bold]suite {result.status}[/] in {result.ended_at - result.started_at:.1f}s: "
        f"{counts_text(result)}" + (f"; {escape(result.error)}" if result.error else "")
    )
    if result.status == "inconclusive":
        n = len(unknown_checks(result))
        console.print(
            f"[yellow]no check failed, but {n} check{'s' if n != 1 else ''} could not be "
            "judged (❔ above, with the reason)[/]"
        )
