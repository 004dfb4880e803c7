"""``chaos redis-slow``: latency on Redis, for every command or only ``--commands GET,SET``.

Every command: a latency toxic on each link to Redis, both ways (as ``db-slow`` without
``--pattern``). Named commands: the ``redis_command`` toxic (chaoslib's proxy only), which
holds each matching command ``--latency`` ms and counts what matched and what passed, so
the task fails if no command matched while it held. The hold, the probe and the
measurements are the fault runner's (:func:`chaoslib.cli.chaos_tasks._run_fault`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from invoke import task

from chaoslib.cli.flags import DAY_MS, FAULT_HELP, LINK
from chaoslib.cli.flags import number as _number
from chaoslib.cli.output import fail
from chaoslib.errors import ConfigError

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


def probe_delay(names: list[str], ms: int, jitter: int) -> Callable[[Any, Any], Any]:
    """The runner's measure for this task: the probe's PING latency while it held, against
    what was injected on it (every command pays the latency both ways; a named command
    once; PING not named: not delayed at all)."""
    from chaoslib.cli import measure
    from chaoslib.cli.hold import probe_link
    from chaoslib.cli.task_measures import Measures, _delay_verdict, _during

    delayed = not names or PROBE_COMMAND in names
    expected = (ms if names else 2 * ms) / 1000

    def add(held: Any, target: Any) -> Any:
        source = f"{probe_link(target, held.links)} probe"
        name = f"the probe's {PROBE_COMMAND}: {'delayed' if delayed else 'not delayed'}"
        got: dict[str, list[float]] = {}

        def check(ctx: Any) -> Any:
            got["took"] = [s.latency for s in _during(held, ctx, source) if s.ok]
            return _delay_verdict(name, got["took"], expected, delayed)

        def lines() -> list[str]:
            took = got.get("took") or []
            said = (f"median {measure.ms(statistics.median(took))} over {len(took)}"
                    if took else "no answer finished while it held")  # fmt: skip
            jit = f" ± {jitter} ms" if jitter else ""
            injected = (f"{ms} ms on each {', '.join(names)}" if names
                        else f"{ms} ms{jit} each way: {measure.ms(expected)} per round trip")  # fmt: skip
            return [f"Probe command {PROBE_COMMAND} while it held: {said} (injected {injected})"]

        held.checks.append(check)
        held.lines.append(lines)
        return Measures()

    return add


@task(
    incrementable=["verbose"],
    iterable=["link"],
    help={
        "latency": "Added delay in ms (default 1000): per chunk both ways, or per matching command.",
        "jitter": "Random ± jitter in ms (default 0; not with --commands).",
        "commands": "Slow only these commands, comma-separated, e.g. GET,SET; needs chaoslib's "
        "proxy (redis_command toxic). Fails (exit 1) if no command matched while it held.",
        "report_dir": "Where to write journal.json (default $CHAOS_REPORT_DIR or reports, "
        "/<time>-<task>/).",
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
    from chaoslib.cli import chaos_tasks

    ms = int(_number(latency, "latency", 1000, maximum=DAY_MS, integer=True))
    jit = int(_number(jitter, "jitter", 0, maximum=DAY_MS, integer=True))
    names = command_names(commands)
    if names and jit:
        raise fail(ConfigError("--jitter is for every command; with --commands the delay is "
                               "exact: drop --jitter"), 2)  # fmt: skip
    if names:
        make = lambda one: one.redis_command(names, delay_ms=ms)  # noqa: E731
        added = ms / 1000 if PROBE_COMMAND in names else 0.0
    else:
        make = lambda one: one.latency(ms, jit, direction="both")  # noqa: E731
        added = 2 * ms / 1000  # each way: a command's round trip pays it twice
    chaos_tasks._run_fault(
        task_name="redis-slow",
        build=lambda target, links: chaos_tasks._each(target, links, make),
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
        measures=probe_delay(names, ms, jit),
    )


TASKS = [redis_slow]
