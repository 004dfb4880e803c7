"""``chaos run FILE``, ``chaos run FILE --dry-run`` and ``chaos validate FILE``.

``run`` writes journal.json, junit.xml and report.html, as the suite does. ``--dry-run``
validates the file and prints the plan (faults and their windows, observers, checks)
without applying anything; ``validate`` only validates. Both resolve the file's links
and services against the running stack when one runs, and say when none does (then the
file's own rules are checked, and names are not).
"""

from __future__ import annotations

import time
from pathlib import Path

from invoke import task
from invoke.exceptions import Exit
from rich.markup import escape
from rich.table import Table

from chaoslib.cli.flags import FORCE, PROFILE, V
from chaoslib.cli.output import console, failed, positional, setup
from chaoslib.cli.suite_tasks import status_exit_code
from chaoslib.durations import format_duration
from chaoslib.errors import ChaosError
from chaoslib.experiment.checks import merge
from chaoslib.experiment.journal import Journal
from chaoslib.experiment.runner import Experiment
from chaoslib.target import Target

# A window's keys in a fault entry, shown as written when no stack resolves the file.
TIMING_KEYS = ("at", "for", "every", "period", "down", "cycles", "jitter", "seed", "windows")


def _target(profile: str | None, force: bool, needed: bool) -> tuple[Target | None, str]:
    """The system to resolve the file against, and what it is; None (and why) when no
    stack runs and the caller can do without one."""
    from chaoslib.target import open_target

    try:
        return open_target(
            profile, force=force
        ), f"checked against {profile or 'the running stack'}"
    except ChaosError as exc:
        if needed or profile:
            raise
        return None, f"links and services not checked: {exc}"


def _load(file: str, target: Target | None) -> Experiment:
    from chaoslib.experiment.file import load_experiment

    return load_experiment(file, target)


def _doc(file: str):  # noqa: ANN202 - the file's parsed mapping (already validated)
    from chaoslib.yaml_lines import load

    return load(file)


def _window_text(start: float, end: float, is_open: bool) -> str:
    if is_open:
        return f"from {format_duration(start)} until Ctrl-C"
    return f"{format_duration(start)}–{format_duration(end)} ({format_duration(end - start)})"


def plan_lines(file: str, exp: Experiment) -> list[str]:
    """What would run: the faults and their windows, the observers, the checks."""
    doc = _doc(file)
    lines = [
        f"plan for {exp.name}: steady state {format_duration(exp.steady_for)}, then the faults, "
        f"then {format_duration(exp.observe_after)} observing recovery"
    ]
    items = list(doc.get("faults") or [])
    lines.append(f"faults ({len(items)}):")
    for item in items:
        name = str(item.get("name", "?"))
        step = exp.steps.get(name)
        if step is not None:
            windows = [_window_text(w.start, w.end, w.is_open) for w in step.windows[:5]]
            more = len(step.windows) - len(windows)
            lines.append(f"  {name}: {step.fault.describe()}")
            lines.append(
                "    holds " + "; ".join(windows) + (f"; and {more} more" if more > 0 else "")
            )
        else:
            on = item.get("link") or item.get("links") or item.get("service") or "?"
            timing = ", ".join(f"{k}: {item[k]}" for k in TIMING_KEYS if k in item)
            lines.append(
                f"  {name}: {item.get('type')} on {on}" + (f" ({timing})" if timing else "")
            )
    observers = list(doc.get("observers") or [])
    lines.append(f"observers ({len(observers)}):")
    for item in observers:
        on = item.get("link") or item.get("service") or item.get("address") or ""
        label = item.get("name") or str(item.get("type", "")).removesuffix("_workload")
        lines.append(f"  {label}: {item.get('type')}" + (f" on {on}" if on else ""))
    checks = list(doc.get("checks") or [])
    lines.append(f"checks ({len(checks)}):")
    for item in checks:
        about = ", ".join(f"{k}: {item[k]}" for k in item if k not in ("type", "name"))
        label = item.get("name") or item.get("type")
        lines.append(f"  {label}" + (f" ({about})" if about else ""))
    return lines


@task(
    incrementable=["verbose"],
    help={"file": "The experiment YAML file.", "profile": PROFILE, "force": FORCE, "verbose": V},
)
def validate(c, file, profile=None, force=False, verbose=0):
    """Validate an experiment file (exit 0 valid, 2 invalid with file:line); runs nothing."""
    positional(file, "validate", "the experiment file")
    setup(verbose)
    try:
        target, how = _target(profile, force, needed=False)
        exp = _load(file, target)
    except ChaosError as exc:
        raise failed(exc) from None
    console.print(
        f"valid: {escape(file)} ({len(exp.steps) or len(_doc(file).get('faults') or [])} faults, "
        f"{len(exp.observers) or len(_doc(file).get('observers') or [])} observers, "
        f"{len(exp.checks)} checks; {escape(how)})"
    )


@task(
    incrementable=["verbose"],
    help={
        "file": "The experiment YAML file.",
        "report_dir": "Where to write journal.json, junit.xml and report.html "
        "(default reports/<time>-<name>/).",
        "journal": "Write the journal here instead (the other reports go beside it).",
        "dry_run": "Validate and print the plan (faults, windows, observers, checks); "
        "applies nothing. Exit 0 if valid, 2 if not.",
        "verbose": V,
        "profile": PROFILE,
        "force": FORCE,
    },
)
def run(c, file, report_dir=None, journal=None, dry_run=False, verbose=0, profile=None,
        force=False):  # fmt: skip
    """Run a YAML experiment against the running stack; write journal.json, junit.xml, report.html."""
    positional(file, "run", "the experiment file")
    setup(verbose)
    try:
        target, how = _target(profile, force, needed=not dry_run)
        experiment = _load(file, target)
    except ChaosError as exc:  # a bad profile or file: 2; a stack that cannot be used: 1
        raise failed(exc) from None
    if dry_run:
        for line in plan_lines(file, experiment):
            console.print(escape(line), soft_wrap=True)
        console.print(f"valid; dry run: nothing applied ({escape(how)})")
        return
    experiment.on_phase = lambda phase, seconds: console.print(f"[bold]{phase}[/] ({seconds:g}s)")
    console.print(
        f"Running {escape(experiment.name)} ({len(experiment.steps)} faults, "
        f"{len(experiment.checks)} checks)"
    )
    result = experiment.run()
    out = _out_dir(report_dir, journal, experiment.name)
    try:
        paths = _write(result, out, journal)
    except (OSError, ChaosError) as exc:
        _print_verdicts(result)
        raise Exit(f"chaoslib: cannot write the reports in {out}: {exc}", code=2) from None
    _print_verdicts(result)
    console.print("reports: " + ", ".join(escape(str(p)) for p in paths.values()))
    if result.status == "interrupted":
        from chaoslib.cli.output import interrupted

        raise interrupted(result.error, "every fault was healed")
    if not result.passed:
        raise Exit(code=status_exit_code(result.status))


def _out_dir(report_dir: str | None, journal: str | None, name: str) -> Path:
    if journal:
        return Path(journal).parent
    if report_dir:
        return Path(report_dir)
    return Path("reports") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def _write(result: Journal, out: Path, journal: str | None) -> dict[str, Path]:
    from chaoslib.reports import write_run_reports

    paths = write_run_reports(result, out)
    if journal and Path(journal) != paths["journal"]:
        paths["journal"].replace(journal)
        paths["journal"] = Path(journal)
    return paths


def _print_verdicts(result: Journal) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("", "check", "measured", "threshold", "evidence"):
        table.add_column(column)
    for v in (*result.steady_state, *result.verdicts):
        mark = {"pass": "✅ PASS", "fail": "❌ FAIL"}.get(v.status, "❔ UNKNOWN")
        measured = "-" if v.measured is None else f"{v.measured:g} {v.unit}"
        table.add_row(mark, escape(v.name), measured, v.threshold_text(), escape(v.evidence))
    console.print(table)
    colour = {"passed": "green", "inconclusive": "yellow"}.get(result.status, "red")
    overall = merge(result.verdicts) if result.verdicts else "-"
    console.print(
        f"[{colour}]{escape(result.experiment)}: {result.status}[/] (checks: {overall})"
        + (f" — {escape(result.error)}" if result.error else "")
    )
    if result.status == "inconclusive":
        n = sum(v.status == "unknown" for v in (*result.steady_state, *result.verdicts))
        console.print(f"[yellow]no check failed, but {n} could not be judged (❔ above)[/]")


TASKS = [run, validate]
