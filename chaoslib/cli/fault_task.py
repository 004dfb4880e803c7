"""The shared body of a fault task: links chosen from the flags, one fault over them, held
through the one runner (:mod:`chaoslib.cli.hold`), measured, reported, and the exit code.

``--force`` and ``--overlap`` are two overrides, never one for the other: ``--force``
injects into a profile marked ``protected: true``; ``--overlap`` holds a fault on a link
another live chaos task already holds, which is otherwise refused (exit 2) naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from invoke.exceptions import Exit

from chaoslib.cli import flags
from chaoslib.cli.hold import Held, held_by_others, hold_and_measure, probe_link, refuse_leftovers
from chaoslib.cli.hold_output import report
from chaoslib.cli.output import fail, failed, setup
from chaoslib.cli.task_measures import Measures
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.faults import schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.group import FaultGroup
from chaoslib.faults.network import Link
from chaoslib.faults.owners import LinkHeld
from chaoslib.target import Target, open_target

Build = Callable[[Target, list[str]], Fault]  # the task's fault, over the links chosen


def link_names(link: object) -> list[str]:
    """``--link a --link b,c`` as [a, b, c]."""
    values = [link] if isinstance(link, str) else list(link or [])  # type: ignore[call-overload]
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def overlap_refused(exc: LinkHeld) -> Exit:
    """A link another live task holds: exit 2, naming the override (not --force)."""
    return fail(ConfigError(f"{exc}, or pass --overlap to hold it too"), 2)


def run_fault(
    task_name: str,
    build: Build,
    service: str | None,
    duration: object,
    recover_within: object,
    verbose: int,
    profile: str | None = None,
    force: bool = False,
    link: object = None,
    client: str | None = None,
    overlap: bool = False,
    report_dir: str | None = None,
    *,
    measures: Callable[[Held, Target], Measures] | None = None,
    windows: Sequence[schedule.Window] | None = None,
    added: float = 0.0,
) -> None:
    """Every link to ``service`` (narrowed by --link/--client), one fault over them, held
    on ``windows`` (default: once for --duration, or until Ctrl-C for 0) and measured."""
    setup(verbose)
    seconds = flags.duration(duration, "duration", 10)
    within = flags.duration(recover_within, "recover-within", 10)
    try:
        target = open_target(profile, force=force)
        links = target.select_links(service, link_names(link), client or None)
        probe_link(target, links)  # refused before anything is applied
        refuse_leftovers(target, links)
        others = held_by_others(target, links)
        if others and not overlap:  # said now, not after the steady state found it down
            raise LinkHeld(others[0])
        fault: Fault = build(target, links)
    except LinkHeld as exc:
        raise overlap_refused(exc) from None
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
    if isinstance(outcome.failure, LinkHeld):  # claimed between the check and the apply
        raise overlap_refused(outcome.failure)
    if isinstance(outcome.failure, ChaosError):
        raise failed(outcome.failure)
    if outcome.interrupted_by is not None:
        raise Exit("interrupted: the fault was healed", code=128 + outcome.interrupted_by)
    if not outcome.passed:
        raise Exit(code=1)


def each_link(target: Target, links: list[str], make: Callable[[Link], Fault]) -> Fault:
    """One toxic per link, as one fault (a single link stays a plain fault)."""
    faults = [make(target.link(name)) for name in links]
    return faults[0] if len(faults) == 1 else FaultGroup(faults)


def latency_both_ways(ms: int, jitter: int) -> tuple[Build, float]:
    """A latency toxic on each link, both ways, and the seconds it adds to one answer:
    a request and its reply each pay it, so one round trip pays it twice."""

    def build(target: Target, links: list[str]) -> Fault:
        return each_link(target, links, lambda one: one.latency(ms, jitter, direction="both"))

    return build, 2 * ms / 1000
