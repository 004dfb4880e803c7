"""``invoke chaos.partition``: cut one client off one service, and show what still worked."""

from __future__ import annotations

import signal

from invoke import task
from invoke.exceptions import Exit
from rich.markup import escape
from rich.table import Table

from chaoslib.cli import flags
from chaoslib.cli.flags import DURATION, FORCE_NOT_OVERLAP, OVERLAP, PROFILE, V
from chaoslib.cli.hold_output import HoldProgress, write_journal
from chaoslib.cli.output import console, fail, failed, setup
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment.runner import Experiment
from chaoslib.faults import schedule
from chaoslib.faults.client_partition import Partition, ProbeResult, plan, probe_all
from chaoslib.faults.owners import LinkHeld
from chaoslib.faults.signals import Terminated, heal_on_signals
from chaoslib.target import open_target


@task(
    incrementable=["verbose"],
    help={
        "client": "Who is cut off: a client of the profile (its own proxy), or an IP address "
        "or CIDR (client-scoped toxics on the service's shared proxy): a loopback address such "
        "as 127.0.0.2 on the embedded stack, a container's address on the project network in "
        "compose mode.",
        "service": "What it is cut off from: redis, postgres, or a link name.",
        "direction": "both (default), to (client to service) or from (service to client).",
        "duration": DURATION,
        "verbose": V,
        "profile": PROFILE,
        "force": FORCE_NOT_OVERLAP,
        "overlap": OVERLAP,
        "report_dir": "Where to write journal.json (default: $CHAOS_REPORT_DIR, else the "
        "chaos home's reports/, in <time>-partition/).",
    },
)
def partition(
    c, client=None, service=None, direction="both", duration=None, verbose=0, profile=None,
    force=False, overlap=False, report_dir=None,
):  # fmt: skip
    """Partition one client from one service; probes show what was cut and what still worked."""
    flags.required(
        client, "client", "a client of the profile, or an IP address or CIDR (e.g. 127.0.0.2)"
    )
    flags.required(service, "service", "redis, postgres, or a link name")
    setup(verbose)
    seconds = flags.duration(duration, "duration", 10)
    try:
        from chaoslib.profiles import load_profile

        target = open_target(profile, force=force)
        loaded = load_profile(profile) if profile else None
        cut = plan(target, loaded, client, service, direction)
        fault = Partition(target, cut)
    except ChaosError as exc:
        raise failed(exc) from None
    fault.exclusive = not overlap
    # Empty until the probes finish: a Ctrl-C during the cut or its probes still reports.
    during: list[ProbeResult] = []
    after: list[ProbeResult] = []
    exp = Experiment("partition", steady_for=0, observe_after=0)
    windows = schedule.once(0, seconds) if seconds else schedule.until_stopped()
    exp.add("partition", fault, windows)

    def on_fault(step: str, action: str, at: float) -> None:
        if action == "apply":
            console.print(f"Applied: {escape(fault.describe())}")
            during.extend(probe_all(target, cut, loaded))  # while the cut holds
        else:
            console.print(f"Healed: {escape(fault.describe())}")

    exp.on_fault = on_fault
    exp.checks = [lambda ctx: _verdict("the cut and the links left alone, as expected", during)]
    journal = HoldProgress("the cut").run(exp)
    if isinstance(exp.failure, LinkHeld):  # nothing was applied
        raise fail(ConfigError(f"{exp.failure}, or pass --overlap to cut it too"), 2)
    if isinstance(exp.failure, ChaosError):
        raise failed(exp.failure)
    interrupted_by = exp.interrupted_by
    if interrupted_by is None:
        with heal_on_signals():
            try:
                after = probe_all(target, cut, loaded)
            except KeyboardInterrupt:  # the cut is healed: only the check is cut short
                interrupted_by = signal.SIGINT
            except Terminated as exc:
                interrupted_by = exc.signum
            except ChaosError as exc:
                raise failed(exc) from None
    path = write_journal(journal, "partition", report_dir)
    if path is not None:
        console.print(f"Journal: {escape(str(path))}")
    _table("During the cut", during)
    silent = [f"{r.link} from {r.source}" for r in after if not r.answered and not r.error]
    unprobed = [r for r in after if r.error]
    if not silent and not unprobed:
        console.print("After the heal: every probe answered")
    if silent:
        console.print(f"[red]After the heal: {escape(', '.join(silent))} still did not answer[/]")
    for r in unprobed:
        console.print(f"[red]After the heal: {escape(r.link)} from {escape(r.source)} "
                      f"could not be probed: {escape(r.error)}[/]")  # fmt: skip
    unmade = [r for r in during if r.error]
    if unmade:
        # A probe that was never made proves nothing: not the cut, not the links still working.
        console.print(f"[red]{len(unmade)} probe(s) could not be made during the cut, so it is "
                      "not proven; see the ❓ rows[/]")  # fmt: skip
    if interrupted_by is not None:
        raise Exit("interrupted: the partition was healed", code=128 + interrupted_by)
    if silent or unprobed or not all(r.as_expected for r in during):
        raise Exit(code=1)


def _table(title: str, results: list[ProbeResult]) -> None:
    table = Table(title=title, box=None, pad_edge=False, header_style="bold", title_justify="left")
    for column in ("", "link", "from", "expected", "observed"):
        table.add_column(column)
    for r in results:
        observed = f"answered in {r.seconds * 1000:.0f} ms" if r.answered else "no answer"
        mark = "✅" if r.as_expected else "❌"
        if r.error:
            observed, mark = f"not probed: {r.error}", "❓"
        expected = "cut" if r.expect_cut else "works"
        table.add_row(mark, escape(r.link), escape(r.source), expected, escape(observed))
    console.print(table)


def _verdict(name: str, results: list[ProbeResult]) -> Verdict:
    if not results:
        return Verdict(name, UNKNOWN, evidence="no probe finished during the cut")
    unmade = [r for r in results if r.error]
    wrong = [r for r in results if not r.error and not r.as_expected]
    if wrong:
        what = ", ".join(f"{r.link} from {r.source}" for r in wrong)
        return Verdict(name, FAIL, len(wrong), 0, "probes", f"not as expected: {what}")
    if unmade:
        return Verdict(name, UNKNOWN, evidence=f"{len(unmade)} probe(s) could not be made")
    return Verdict(name, PASS, len(results), None, "probes", "every probe as expected")
