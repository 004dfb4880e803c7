"""``invoke chaos.*``: faults against the running stack, experiments, and reset."""

from __future__ import annotations

import time
from pathlib import Path

from invoke import Collection, task
from invoke.exceptions import Exit
from rich.markup import escape
from rich.table import Table

from chaoslib.checks import merge
from chaoslib.cli.hold import hold_and_measure, report
from chaoslib.cli.output import console, fail, setup
from chaoslib.cli.suite_tasks import scenario, suite
from chaoslib.environment import Environment
from chaoslib.errors import ChaosError, ProtectedError
from chaoslib.faults.base import Fault
from chaoslib.faults.recovery import reset_all
from chaoslib.journal import Journal

V = "More log output: -v for INFO, -vv for DEBUG (or set CHAOS_LOG_LEVEL)."
DURATION = "How long to hold the fault, in seconds; 0 holds it until Ctrl-C (default 10)."
RECOVER = (
    "Fail (exit 1) unless the link answers within this many seconds after the heal (default 10)."
)


def _number(
    value, flag: str, default: float, *, minimum: float = 0, integer: bool = False
) -> float:
    if value is None or value == "":
        return default
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise fail(
            ChaosError(f"--{flag}={value!r} is not {kind}; use {kind} >= {minimum:g}"), 2
        ) from None
    if number < minimum:
        raise fail(ChaosError(f"--{flag}={value!r} is too small; use a value >= {minimum:g}"), 2)
    return number


FORCE = "Inject faults even though the profile is marked protected: true (a planned game day)."
PROFILE = (
    "Where the system runs: empty for the embedded stack (invoke stack.up), or a profile "
    "with a compose section (compose) for a running docker-compose project."
)

# The flags every fault task shares.
FAULT_HELP = {
    "duration": DURATION,
    "recover_within": RECOVER,
    "verbose": V,
    "profile": PROFILE,
    "force": FORCE,
}


def _run_fault(
    build, link: str, duration, recover_within, verbose: int, profile=None, force=False
) -> None:
    setup(verbose)
    seconds = _number(duration, "duration", 10)
    within = _number(recover_within, "recover-within", 10)
    try:
        env = Environment.from_profile(profile, force=force)
        fault: Fault = build(env)
        outcome = hold_and_measure(env, fault, link, seconds, within)
    except ProtectedError as exc:
        raise fail(exc, 2) from None
    except ChaosError as exc:
        raise fail(exc) from None
    report(outcome)
    if outcome.interrupted:
        raise Exit("interrupted: the fault was healed", code=130)
    if not outcome.verdict.passed:
        raise Exit(code=1)


@task(
    incrementable=["verbose"],
    help={
        "latency": "Added delay in ms (default 1000): per chunk, or per matching statement.",
        "jitter": "Random ± jitter in ms (default 0; not with --pattern).",
        "pattern": "Slow only statements whose SQL matches this regex (case-insensitive), "
        "e.g. 'INSERT INTO game_states'; needs chaoslib's proxy (pg_query toxic).",
        **FAULT_HELP,
    },
)
def db_slow(
    c,
    latency=None,
    jitter=None,
    pattern=None,
    duration=None,
    recover_within=None,
    verbose=0,
    profile=None,
    force=False,
):
    """Make the database slow (every query, or only --pattern), then measure recovery."""
    ms = int(_number(latency, "latency", 1000, integer=True))
    jit = int(_number(jitter, "jitter", 0, integer=True))
    if pattern:
        _run_fault(
            lambda env: env.link("timescaledb").pg_query(pattern, delay_ms=ms),
            "timescaledb",
            duration,
            recover_within,
            verbose,
            profile,
            force,
        )
        return
    _run_fault(
        lambda env: env.link("timescaledb").latency(ms, jit, direction="both"),
        "timescaledb",
        duration,
        recover_within,
        verbose,
        profile,
        force,
    )


@task(
    incrementable=["verbose"],
    help=FAULT_HELP,
)
def db_down(c, duration=None, recover_within=None, verbose=0, profile=None, force=False):
    """Take the database link down (connections drop, new ones are refused), then measure recovery."""
    _run_fault(
        lambda env: env.link("timescaledb").down(),
        "timescaledb",
        duration,
        recover_within,
        verbose,
        profile,
        force,
    )


@task(
    incrementable=["verbose"],
    help=FAULT_HELP,
)
def redis_down(c, duration=None, recover_within=None, verbose=0, profile=None, force=False):
    """Take the Redis link down, then measure how long Redis takes to answer again."""
    _run_fault(
        lambda env: env.link("redis").down(),
        "redis",
        duration,
        recover_within,
        verbose,
        profile,
        force,
    )


@task(
    incrementable=["verbose"],
    help={
        "period": "Seconds from one down to the next (default 4).",
        "down": "Seconds down per cycle (default 1).",
        "cycles": "How many times the link goes down (default 3).",
        "jitter": "± seconds on each start (default 0).",
        "seed": "Seed for the jitter, for a repeatable schedule.",
        **{k: v for k, v in FAULT_HELP.items() if k != "duration"},
    },
)
def redis_flap(
    c,
    period=None,
    down=None,
    cycles=None,
    jitter=None,
    seed=None,
    recover_within=None,
    verbose=0,
    profile=None,
    force=False,
):
    """Flap the Redis link: down and up on a schedule, then measure recovery."""
    p = _number(period, "period", 4, minimum=0.01)
    d = _number(down, "down", 1, minimum=0.01)
    n = int(_number(cycles, "cycles", 3, minimum=1, integer=True))
    j = _number(jitter, "jitter", 0)
    s = None if seed in (None, "") else int(_number(seed, "seed", 0, integer=True))
    if d >= p:
        raise fail(ChaosError(f"--down={d:g} must be shorter than --period={p:g}"), 2)

    def build(env: Environment) -> Fault:
        def announce(state: str, at: float) -> None:
            console.print(f"  redis link {'[red]down[/]' if state == 'down' else '[green]up[/]'}")

        return env.link("redis").flap(p, d, n, jitter=j, seed=s, on_change=announce)

    _run_fault(build, "redis", p * n, recover_within, verbose, profile, force)


@task(
    incrementable=["verbose"],
    help={
        "link": "Link name: redis or timescaledb (required).",
        "rate": "Rate in KB/s, 1 KB = 1000 bytes (required).",
        **FAULT_HELP,
    },
)
def bandwidth(
    c,
    link=None,
    rate=None,
    duration=None,
    recover_within=None,
    verbose=0,
    profile=None,
    force=False,
):
    """Limit a link's bandwidth in both directions, then measure recovery."""
    if not link:
        raise fail(ChaosError("--link is required: redis or timescaledb"), 2)
    if rate in (None, ""):
        raise fail(ChaosError("--rate is required: KB/s as a whole number >= 0"), 2)
    kbps = int(_number(rate, "rate", 0, integer=True))
    _run_fault(
        lambda env: env.link(link).bandwidth(kbps, direction="both"),
        link,
        duration,
        recover_within,
        verbose,
        profile,
        force,
    )


@task(incrementable=["verbose"], help={"verbose": V})
def reset(c, verbose=0):
    """Undo every fault a crashed run left: ledger, proxy toxics and links, stopped or paused services."""
    setup(verbose)
    try:
        done = reset_all() + _reset_suite()
    except ChaosError as exc:
        raise fail(exc) from None
    if not done:
        console.print("Nothing to reset: no fault in the ledger and no stack running.")
    for line in done:
        console.print(f"  {escape(line)}")
    if any(line.startswith("FAILED") for line in done):
        raise Exit(code=1)


def _reset_suite() -> list[str]:
    """A suite that died hard: its own stack and ledger are dropped, not restored."""
    from chaoslib.faults.ledger import Ledger
    from chaoslib.stack import down
    from chaoslib.state import chaos_home

    home = chaos_home() / "suite"
    if not home.exists():
        return []
    done = [f"suite leftovers: {line}" for line in down(home) or []]
    ledger = Ledger(home)
    if ledger.entries():
        done.append(f"suite leftovers: dropped {len(ledger.entries())} ledger entries")
        ledger.clear()
    return done


@task(
    incrementable=["verbose"],
    help={
        "file": "The experiment YAML file.",
        "journal": "Where to write the journal (default reports/<time>/journal.json).",
        "verbose": V,
        "profile": PROFILE,
        "force": FORCE,
    },
)
def run(c, file, journal=None, verbose=0, profile=None, force=False):
    """Run a YAML experiment against the running stack and write its journal."""
    setup(verbose)
    from chaoslib.experiment_file import load_experiment

    try:
        env = Environment.from_profile(profile, force=force)
        experiment = load_experiment(file, env)
    except ChaosError as exc:
        raise fail(exc, 2) from None
    experiment.on_phase = lambda phase, seconds: console.print(f"[bold]{phase}[/] ({seconds:g}s)")
    console.print(
        f"Running {experiment.name} ({len(experiment.steps)} faults, {len(experiment.checks)} checks)"
    )
    result = experiment.run()
    path = (
        Path(journal)
        if journal
        else Path("reports") / time.strftime("%Y%m%d-%H%M%S") / "journal.json"
    )
    result.write(path)
    _print_verdicts(result)
    console.print(f"Journal: {path}")
    if not result.passed:
        raise Exit(code=130 if result.status == "interrupted" else 1)


def _print_verdicts(result: Journal) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("", "check", "measured", "threshold", "evidence"):
        table.add_column(column)
    for v in (*result.steady_state, *result.verdicts):
        mark = {"pass": "✅", "fail": "❌"}.get(v.status, "❔")
        measured = "-" if v.measured is None else f"{v.measured:g} {v.unit}"
        table.add_row(mark, escape(v.name), measured, v.threshold_text(), escape(v.evidence))
    console.print(table)
    colour = "green" if result.passed else "red"
    overall = merge(result.verdicts) if result.verdicts else "-"
    console.print(
        f"[{colour}]{result.experiment}: {result.status}[/] (checks: {overall})"
        + (f" — {result.error}" if result.error else "")
    )


collection = Collection(
    "chaos", db_slow, db_down, redis_down, redis_flap, bandwidth, reset, run, suite, scenario
)
