"""``chaos <fault>`` (``invoke chaos.<fault>``): one fault on the running stack, measured.

Each task holds its fault through :func:`chaoslib.cli.fault_task.run_fault`, prints what
it did and what it measured, and leaves a journal. Two overrides, never one for the other:

- ``--force``: inject into a profile marked ``protected: true``, on purpose (a game day).
- ``--overlap``: hold the fault on a link another live chaos task already holds. Without
  it that is refused (exit 2), naming the holder; ``--force`` does not lift it.
"""

from __future__ import annotations

from invoke import Collection, task

from chaoslib.cli import flags
from chaoslib.cli.fault_task import Build, each_link, latency_both_ways, link_names, run_fault
from chaoslib.cli.flags import DAY, FAULT_HELP, LINK, RATE_MAX, REPORT_DIR
from chaoslib.cli.measure_fault import matches
from chaoslib.cli.output import fail
from chaoslib.cli.suite_tasks import scenario, suite
from chaoslib.cli.task_measures import PROBE_SQL, slow_link, slow_statements, throughput
from chaoslib.errors import ConfigError
from chaoslib.faults import schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.network import partition
from chaoslib.target import Target

DB_HELP = {**FAULT_HELP, "link": LINK.format(what="the stack's PostgreSQL")}
REDIS_HELP = {**FAULT_HELP, "link": LINK.format(what="the stack's Redis")}


def _down(target: Target, links: list[str]) -> Fault:
    return partition([target.link(name) for name in links])


@task(
    incrementable=["verbose"],
    iterable=["link"],
    help={
        "latency": "Added delay (default 1000 ms): bare ms, or 250ms, 1s; per chunk, or per "
        "matching statement.",
        "jitter": "Random ± jitter (default 0 ms; bare ms or with a unit; not with --pattern).",
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
    ms = flags.milliseconds(latency, "latency", 1000)
    jit = flags.milliseconds(jitter, "jitter", 0)
    if pattern:
        build: Build = lambda target, links: each_link(  # noqa: E731
            target, links, lambda one: one.pg_query(pattern, delay_ms=ms)
        )
        added = ms / 1000 if matches(pattern, PROBE_SQL) else 0.0
        measures = slow_statements(pattern, ms)
    else:
        build, added = latency_both_ways(ms, jit)
        measures = slow_link(ms, jit)
    run_fault(
        "db-slow", build, "postgres", duration, recover_within, verbose, profile, force, link,
        client, overlap, report_dir, measures=measures, added=added,
    )  # fmt: skip


@task(incrementable=["verbose"], iterable=["link"], help={**DB_HELP, "report_dir": REPORT_DIR})
def db_down(
    c, duration=None, recover_within=None, verbose=0, profile=None, force=False, link=None,
    client=None, overlap=False, report_dir=None,
):  # fmt: skip
    """Take every link to the database down (connections drop, new ones are refused), then measure recovery."""
    run_fault("db-down", _down, "postgres", duration, recover_within, verbose, profile, force,
              link, client, overlap, report_dir)  # fmt: skip


@task(incrementable=["verbose"], iterable=["link"], help={**REDIS_HELP, "report_dir": REPORT_DIR})
def redis_down(
    c, duration=None, recover_within=None, verbose=0, profile=None, force=False, link=None,
    client=None, overlap=False, report_dir=None,
):  # fmt: skip
    """Take every link to Redis down, then measure how long Redis takes to answer again."""
    run_fault("redis-down", _down, "redis", duration, recover_within, verbose, profile, force,
              link, client, overlap, report_dir)  # fmt: skip


@task(
    incrementable=["verbose"],
    iterable=["link"],
    help={
        "period": "From one down to the next (default 4s; 500ms, 4s or bare seconds).",
        "down": "How long the links stay down each cycle (default 1s).",
        "cycles": "How many times the links go down (default 3).",
        "jitter": "± on each start (default 0s).",
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
    p = flags.duration(period, "period", 4, minimum=0.01)
    d = flags.duration(down, "down", 1, minimum=0.01)
    n = int(flags.number(cycles, "cycles", 3, minimum=1, integer=True, maximum=DAY / 0.01))
    j = flags.duration(jitter, "jitter", 0)
    s = (
        None
        if seed in (None, "")
        else int(flags.number(seed, "seed", 0, integer=True, maximum=None))
    )
    if d >= p:
        raise fail(ConfigError(f"--down={d:g} must be shorter than --period={p:g}"), 2)
    if p * n > DAY:
        raise fail(ConfigError(f"--period={p:g} × --cycles={n} is {p * n:g}s; keep the "
                               f"whole flap within a day ({DAY:g}s)"), 2)  # fmt: skip
    # A link down on each of the schedule's windows, made as they come: a million cycles
    # cost nothing before the first down.
    windows = schedule.flap(p, d, n, jitter=j, seed=s)
    run_fault(
        "redis-flap", _flap_down(d, n), "redis", p * n, recover_within, verbose, profile,
        force, link, client, overlap, report_dir, windows=windows,
    )  # fmt: skip


def _flap_down(down: float, cycles: int) -> Build:
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
    flags.required(rate, "rate", "KB/s as a whole number >= 0")
    kbps = int(flags.number(rate, "rate", 0, integer=True, maximum=RATE_MAX))
    if not link_names(link) and not service:
        raise fail(
            ConfigError(
                "--link is required (or --service): --service redis|postgres for every link "
                "to that service, or --link NAME, e.g. redis or timescaledb"
            ),
            2,
        )

    def build(target: Target, links: list[str]) -> Fault:
        return each_link(target, links, lambda one: one.bandwidth(kbps, direction="both"))

    run_fault(
        "bandwidth", build, service or None, duration, recover_within, verbose, profile, force,
        link, client, overlap, report_dir,
        measures=throughput(kbps, flags.duration(duration, "duration", 10)),
    )  # fmt: skip


collection = Collection(
    "chaos", db_slow, db_down, redis_down, redis_flap, bandwidth, suite, scenario
)
