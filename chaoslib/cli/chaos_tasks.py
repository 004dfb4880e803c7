"""``invoke chaos.*``: faults against the running stack, experiments, and reset."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from invoke import Collection, task
from invoke.exceptions import Exit
from rich.markup import escape
from rich.table import Table

from chaoslib import schedule
from chaoslib.checks import merge
from chaoslib.cli.flags import DAY, DAY_MS, FAULT_HELP, FORCE, LINK, PROFILE, RATE_MAX, V
from chaoslib.cli.flags import number as _number
from chaoslib.cli.hold import (
    Held,
    held_by_others,
    hold_and_measure,
    probe_link,
    refuse_leftovers,
    report,
)
from chaoslib.cli.measure_fault import matches
from chaoslib.cli.output import console, fail, failed, positional, setup
from chaoslib.cli.suite_tasks import scenario, status_exit_code, suite
from chaoslib.cli.task_measures import PROBE_SQL, Measures, slow_link, slow_statements, throughput
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.faults.base import Fault
from chaoslib.faults.group import FaultGroup
from chaoslib.faults.network import partition
from chaoslib.faults.owners import LinkHeld
from chaoslib.journal import Journal
from chaoslib.target import Target, open_target

DB_HELP = {**FAULT_HELP, "link": LINK.format(what="the stack's PostgreSQL")}
REDIS_HELP = {**FAULT_HELP, "link": LINK.format(what="the stack's Redis")}


def _names(link) -> list[str]:
    """``--link a --link b,c`` as [a, b, c]."""
    values = [link] if isinstance(link, str) else list(link or [])
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


REPORT_DIR = (
    "Where to write journal.json (default: $CHAOS_REPORT_DIR, else the chaos home's "
    "reports/, in <time>-<task>/)."
)


def _run_fault(
    task_name: str,
    build: Callable[[Target, list[str]], Fault],
    service: str | None,
    duration,
    recover_within,
    verbose: int,
    profile=None,
    force=False,
    link=None,
    client=None,
    overlap=False,
    report_dir=None,
    *,
    measures: Callable[[Held, Target], Measures] | None = None,
    windows: Sequence[schedule.Window] | None = None,
    added: float = 0.0,
) -> None:
    """Every link to ``service`` (narrowed by --link/--client), one fault over them, held
    on ``windows`` (default: once for --duration, or until Ctrl-C for 0) and measured."""
    setup(verbose)
    seconds = _number(duration, "duration", 10)
    within = _number(recover_within, "recover-within", 10)
    try:
        target = open_target(profile, force=force)
        links = target.select_links(service, _names(link), client or None)
        probe_link(target, links)  # refused before anything is applied
        refuse_leftovers(target, links)
        others = held_by_others(target, links)
        if others and not overlap:  # said now, not after the steady state found it down
            raise LinkHeld(others[0])
        fault: Fault = build(target, links)
    except LinkHeld as exc:
        raise fail(ConfigError(f"{exc}, or pass --overlap to hold it too"), 2) from None
    except ChaosError as exc:  # a bad profile, or what the flags asked for is not there: 2
        raise failed(exc) from None
    fault.exclusive = not overlap
    flapping = windows is not None
    if windows is None:
        windows = schedule.once(0, seconds) if seconds else schedule.until_stopped()
    held = Held(task_name, fault, links, windows, within, added=added, report_dir=report_dir,
                flapping=flapping, overlapping=others, profile=profile or "local")  # fmt: skip
    extra = measures(held, target) if measures else None
    try:
        if extra is not None:
            extra.prepare()
        outcome = hold_and_measure(target, held)
    except ChaosError as exc:
        raise failed(exc) from None
    finally:
        if extra is not None:
            extra.finish()
    report(outcome, held)
    if isinstance(outcome.failure, LinkHeld):
        raise fail(ConfigError(f"{outcome.failure}, or pass --overlap to hold it too"), 2)
    if isinstance(outcome.failure, ChaosError):
        raise failed(outcome.failure)
    if outcome.interrupted_by is not None:
        raise Exit("interrupted: the fault was healed", code=128 + outcome.interrupted_by)
    if not outcome.passed:
        raise Exit(code=1)


def _down(target: Target, links: list[str]) -> Fault:
    return partition([target.link(name) for name in links])


def _each(target: Target, links: list[str], make) -> Fault:
    """One toxic per link, as one fault (a single link stays a plain fault)."""
    faults = [make(target.link(name)) for name in links]
    return faults[0] if len(faults) == 1 else FaultGroup(faults)


@task(
    incrementable=["verbose"],
    iterable=["link"],
    help={
        "latency": "Added delay in ms (default 1000): per chunk, or per matching statement.",
        "jitter": "Random ± jitter in ms (default 0; not with --pattern).",
        "pattern": "Slow only statements whose SQL matches this regex (case-insensitive), "
        "e.g. 'INSERT INTO orders'; needs chaoslib's proxy (pg_query toxic). Fails "
        "(exit 1) if no statement matched while it held.",
        "report_dir": REPORT_DIR,
        **DB_HELP,
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
    link=None,
    client=None,
    overlap=False,
    report_dir=None,
):
    """Make the database slow on every link to it (every query, or only --pattern), then measure recovery."""
    ms = int(_number(latency, "latency", 1000, maximum=DAY_MS, integer=True))
    jit = int(_number(jitter, "jitter", 0, maximum=DAY_MS, integer=True))
    if pattern:
        make = lambda one: one.pg_query(pattern, delay_ms=ms)  # noqa: E731
        added = ms / 1000 if matches(pattern, PROBE_SQL) else 0.0
        measures = slow_statements(pattern, ms)
    else:
        make = lambda one: one.latency(ms, jit, direction="both")  # noqa: E731
        added = 2 * ms / 1000  # each way: one statement's round trip pays it twice
        measures = slow_link(ms, jit)
    build = lambda target, links: _each(target, links, make)  # noqa: E731
    _run_fault(
        "db-slow", build, "postgres", duration, recover_within, verbose, profile, force, link,
        client, overlap, report_dir, measures=measures, added=added,
    )  # fmt: skip


@task(incrementable=["verbose"], iterable=["link"], help={**DB_HELP, "report_dir": REPORT_DIR})
def db_down(
    c, duration=None, recover_within=None, verbose=0, profile=None, force=False, link=None,
    client=None, overlap=False, report_dir=None,
):  # fmt: skip
    """Take every link to the database down (connections drop, new ones are refused), then measure recovery."""
    _run_fault("db-down", _down, "postgres", duration, recover_within, verbose, profile, force,
               link, client, overlap, report_dir)  # fmt: skip


@task(incrementable=["verbose"], iterable=["link"], help={**REDIS_HELP, "report_dir": REPORT_DIR})
def redis_down(
    c, duration=None, recover_within=None, verbose=0, profile=None, force=False, link=None,
    client=None, overlap=False, report_dir=None,
):  # fmt: skip
    """Take every link to Redis down, then measure how long Redis takes to answer again."""
    _run_fault("redis-down", _down, "redis", duration, recover_within, verbose, profile, force,
               link, client, overlap, report_dir)  # fmt: skip


@task(
    incrementable=["verbose"],
    iterable=["link"],
    help={
        "period": "Seconds from one down to the next (default 4).",
        "down": "Seconds down per cycle (default 1).",
        "cycles": "How many times the links go down (default 3).",
        "jitter": "± seconds on each start (default 0).",
        "seed": "Seed for the jitter, for a repeatable schedule.",
        "report_dir": REPORT_DIR,
        **{k: v for k, v in REDIS_HELP.items() if k != "duration"},
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
    link=None,
    client=None,
    overlap=False,
    report_dir=None,
):
    """Flap every link to Redis together: down and up on a schedule, then measure recovery."""
    p = _number(period, "period", 4, minimum=0.01)
    d = _number(down, "down", 1, minimum=0.01)
    n = int(_number(cycles, "cycles", 3, minimum=1, integer=True, maximum=DAY / 0.01))
    j = _number(jitter, "jitter", 0)
    s = None if seed in (None, "") else int(_number(seed, "seed", 0, integer=True, maximum=None))
    if d >= p:
        raise fail(ConfigError(f"--down={d:g} must be shorter than --period={p:g}"), 2)
    if p * n > DAY:
        raise fail(ConfigError(f"--period={p:g} × --cycles={n} is {p * n:g}s; keep the "
                               f"whole flap within a day ({DAY:g}s)"), 2)  # fmt: skip
    # A link down on each of the schedule's windows, made as they come: a million cycles
    # cost nothing before the first down.
    windows = schedule.flap(p, d, n, jitter=j, seed=s)
    _run_fault(
        "redis-flap", _flap_down(p, d, n), "redis", p * n, recover_within, verbose, profile,
        force, link, client, overlap, report_dir, windows=windows,
    )  # fmt: skip


def _flap_down(period: float, down: float, cycles: int):  # noqa: ANN202
    def build(target: Target, links: list[str]) -> Fault:
        fault = partition([target.link(name) for name in links])
        text = f"flap {', '.join(links)}: {cycles} cycles, down {down:g}s each"
        fault.describe = lambda: text  # type: ignore[method-assign]
        return fault

    return build


@task(
    incrementable=["verbose"],
    iterable=["link"],
    help={
        "service": "Every link whose upstream is this service: redis or postgres.",
        "link": "These links only (repeat the flag, or comma-separate), e.g. redis or "
        "timescaledb (the shared proxies) or a client's own; with --service, links to it.",
        "rate": "Rate in KB/s, 1 KB = 1000 bytes (required).",
        "report_dir": REPORT_DIR,
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
    service=None,
    client=None,
    overlap=False,
    report_dir=None,
):
    """Limit the bandwidth of links (--link, or every link to --service) both ways, then measure recovery and throughput."""
    if rate in (None, ""):
        raise fail(ConfigError("--rate is required: KB/s as a whole number >= 0"), 2)
    kbps = int(_number(rate, "rate", 0, integer=True, maximum=RATE_MAX))
    if not _names(link) and not service:
        raise fail(
            ConfigError(
                "--link is required (or --service): --service redis|postgres for every link "
                "to that service, or --link NAME, e.g. redis or timescaledb"
            ),
            2,
        )
    make = lambda one: one.bandwidth(kbps, direction="both")  # noqa: E731
    build = lambda target, links: _each(target, links, make)  # noqa: E731
    _run_fault(
        "bandwidth", build, service or None, duration, recover_within, verbose, profile, force,
        link, client, overlap, report_dir,
        measures=throughput(kbps, _number(duration, "duration", 10)),
    )  # fmt: skip


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
    positional(file, "chaos.run", "the experiment file")
    setup(verbose)
    from chaoslib.experiment_file import load_experiment

    try:
        target = open_target(profile, force=force)
        experiment = load_experiment(file, target)
    except ChaosError as exc:  # a bad profile or file: 2; a stack that cannot be used: 1
        raise failed(exc) from None
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
        raise Exit(code=status_exit_code(result.status))


def _print_verdicts(result: Journal) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("", "check", "measured", "threshold", "evidence"):
        table.add_column(column)
    for v in (*result.steady_state, *result.verdicts):
        mark = {"pass": "✅", "fail": "❌"}.get(v.status, "❔")
        measured = "-" if v.measured is None else f"{v.measured:g} {v.unit}"
        table.add_row(mark, escape(v.name), measured, v.threshold_text(), escape(v.evidence))
    console.print(table)
    colour = {"passed": "green", "inconclusive": "yellow"}.get(result.status, "red")
    overall = merge(result.verdicts) if result.verdicts else "-"
    console.print(
        f"[{colour}]{result.experiment}: {result.status}[/] (checks: {overall})"
        + (f" — {result.error}" if result.error else "")
    )
    if result.status == "inconclusive":
        n = sum(v.status == "unknown" for v in (*result.steady_state, *result.verdicts))
        console.print(f"[yellow]no check failed, but {n} could not be judged (❔ above)[/]")


collection = Collection(
    "chaos", db_slow, db_down, redis_down, redis_flap, bandwidth, run, suite, scenario
)
