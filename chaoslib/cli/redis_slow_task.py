"""``chaos redis-slow``: latency on Redis, for every command or only ``--commands GET,SET``.

Every command: a latency toxic on each link to Redis, both ways (as ``db-slow`` without
``--pattern``). Named commands: the ``redis_command`` toxic (chaoslib's proxy only), which
holds each matching command ``--latency`` ms and counts what matched and what passed, so
the task fails if no command matched while it held. The hold, the probe and the
measurements are the fault runner's (:func:`chaoslib.cli.fault_task.run_fault`).
"""

from __future__ import annotations

from collections.abc import Callable

from invoke import task

from chaoslib.cli import flags
from chaoslib.cli.fault_task import Build, each_link, latency_both_ways, run_fault
from chaoslib.cli.flags import FAULT_HELP, LINK, REPORT_DIR
from chaoslib.cli.hold import Held
from chaoslib.cli.output import fail
from chaoslib.cli.task_measures import Measures, probe_delay, slow_link
from chaoslib.errors import ConfigError
from chaoslib.target import Target

PROBE_COMMAND = "PING"  # what the task's probe sends through the link


def command_names(commands: object) -> list[str]:
    """``GET,SET`` (or the flag repeated) as ``["GET", "SET"]``; a name is letters (and
    ``|`` or ``-`` for subcommands as Redis spells them)."""
    values = [commands] if isinstance(commands, str) else list(commands or [])  # type: ignore[call-overload]
    names = [n.strip().upper() for v in values for n in str(v).split(",") if n.strip()]
    bad = [n for n in names if not n.replace("|", "").replace("-", "").isalpha()]
    if bad:
        raise fail(ConfigError(f"--commands: {', '.join(map(repr, bad))} is not a Redis command "
                               "name; use names such as GET,SET,XADD"), 2)  # fmt: skip
    return list(dict.fromkeys(names))


def probe_measure(names: list[str], ms: int, jitter: int) -> Callable[[Held, Target], Measures]:
    """The probe's PING latency while it held, against what was injected on it (every
    command pays the latency both ways; a named command once; PING not named: nothing)."""
    probe = f"command {PROBE_COMMAND}"
    if not names:
        return slow_link(ms, jitter, probe)
    injected = f"{ms} ms on each {', '.join(names)}"
    return probe_delay(probe, ms / 1000, PROBE_COMMAND in names, injected)


@task(
    incrementable=["verbose"],
    iterable=["link"],
    help={
        "latency": "Added delay (default 1000 ms): bare ms, or 250ms, 1s; per chunk both ways, "
        "or per matching command.",
        "jitter": "Random ± jitter (default 0 ms; bare ms or with a unit; not with --commands).",
        "commands": "Slow only these commands, comma-separated, e.g. GET,SET; needs chaoslib's "
        "proxy (redis_command toxic). Fails (exit 1) if no command matched while it held.",
        "report_dir": REPORT_DIR,
        **FAULT_HELP,
        "link": LINK.format(what="the stack's Redis"),
    },
)
def redis_slow(
    c,
    latency=None,
    jitter=None,
    commands=None,
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
    """Make Redis slow on every link to it (every command, or only --commands), then measure recovery."""
    ms = flags.milliseconds(latency, "latency", 1000)
    jit = flags.milliseconds(jitter, "jitter", 0)
    names = command_names(commands)
    if names and jit:
        raise fail(ConfigError("--jitter is for every command; with --commands the delay is "
                               "exact: drop --jitter"), 2)  # fmt: skip
    if names:
        build: Build = lambda target, links: each_link(  # noqa: E731
            target, links, lambda one: one.redis_command(names, delay_ms=ms)
        )
        added = ms / 1000 if PROBE_COMMAND in names else 0.0
    else:
        build, added = latency_both_ways(ms, jit)
    run_fault(
        task_name="redis-slow",
        build=build,
        service="redis",
        duration=duration,
        recover_within=recover_within,
        verbose=verbose,
        profile=profile,
        force=force,
        link=link,
        client=client,
        overlap=overlap,
        report_dir=report_dir,
        added=added,
        measures=probe_measure(names, ms, jit),
    )


TASKS = [redis_slow]
