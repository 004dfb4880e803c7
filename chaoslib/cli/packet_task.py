"""``invoke chaos.packet``: a packet fault inside one container, read back before it counts.

Only in docker mode: the fault lives in the container's network namespace (a tbf
qdisc, an iptables rule, or netem through Pumba). After the apply the task reads
the namespace back, and a fault that did not take effect fails the run; after
the heal it checks that nothing of chaoslib's is left.
"""

from __future__ import annotations

from invoke import task
from invoke.exceptions import Exit
from rich.markup import escape

from chaoslib.cli import flags
from chaoslib.cli.flags import DAY, DURATION, FORCE, V
from chaoslib.cli.hold_output import HoldProgress, write_journal
from chaoslib.cli.output import console, fail, failed, setup
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.experiment.runner import Experiment
from chaoslib.faults import schedule
from chaoslib.faults.packet import KINDS, check_packet, packet_fault
from chaoslib.services.docker import DockerService
from chaoslib.target import Target, open_target

UNTIL_CTRL_C = DAY  # Pumba needs a duration; "until Ctrl-C" is a day, healed earlier
NEEDS_CONTAINERS = (
    "packet faults act inside a container's network namespace, so they need docker mode: "
    "give --profile with a compose section (e.g. --profile compose) for a running "
    "docker-compose project"
)
VALUES = "; ".join(f"{name}: {spec.accepted()}" for name, spec in KINDS.items())


def _value(value, kind: str) -> float:
    if value is None or value == "":
        raise fail(
            ConfigError(f"--value is required for --kind {kind}: {KINDS[kind].accepted()}"), 2
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise fail(
            ConfigError(f"--value={value!r} is not a number; {KINDS[kind].accepted()}"), 2
        ) from None
    try:
        return check_packet(kind, number)
    except ConfigError as exc:
        raise fail(ConfigError(f"--value: {exc}"), 2) from None


def _container(profile: str | None, force: bool, name: str) -> tuple[Target, DockerService]:
    """The compose project's container ``name``; every reason it cannot be one is exit 2."""
    from chaoslib.profiles import load_profile

    try:
        if not profile or load_profile(profile).compose is None:
            raise ConfigError(NEEDS_CONTAINERS)
        target = open_target(profile, force=force)
        if target.kind != "compose":
            raise ConfigError(NEEDS_CONTAINERS)
        service = target.service(name)
    except ChaosError as exc:
        raise fail(exc, 2) from None
    if not isinstance(service, DockerService):
        raise fail(ConfigError(f"{name} is not a container; {NEEDS_CONTAINERS}"), 2)
    return target, service


@task(
    incrementable=["verbose"],
    help={
        "service": "The compose service whose container gets the fault (required); "
        "an unknown name lists the project's services.",
        "kind": f"What happens to its packets (required): {', '.join(KINDS)}.",
        "value": f"How much (required), by kind: {VALUES}.",
        "duration": DURATION,
        "verbose": V,
        "profile": "A profile with a compose section (compose) for a running docker-compose "
        "project; packet faults need containers.",
        "force": FORCE,
        "report_dir": "Where to write journal.json (default: $CHAOS_REPORT_DIR, else the "
        "chaos home's reports/, in <time>-packet-<kind>/).",
    },
)
# verbose comes before value: invoke gives short flags in declaration order, and -v
# must stay "verbose" as in every other task.
def packet(
    c, service=None, kind=None, verbose=0, value=None, duration=None, profile=None, force=False,
    report_dir=None,
):  # fmt: skip
    """Rate-limit, drop, delay, duplicate or corrupt one container's packets, verified in place."""
    setup(verbose)
    if not service:
        raise fail(ConfigError("--service is required: a service of the compose project"), 2)
    if kind not in KINDS:
        given = f"--kind={kind!r} is not valid" if kind else "--kind is required"
        raise fail(ConfigError(f"{given}; accepted: {', '.join(KINDS)}"), 2)
    number = _value(value, kind)
    seconds = flags.duration(duration, "duration", 10)
    target, container = _container(profile, force, service)
    fault = packet_fault(
        container, kind, number, duration=seconds or UNTIL_CTRL_C, ledger=target.ledger
    )
    exp = Experiment(f"packet-{kind}", steady_for=0, observe_after=0)
    exp.add("packet", fault, schedule.once(0, seconds) if seconds else schedule.until_stopped())

    def on_fault(step: str, action: str, at: float) -> None:
        if action == "apply":
            console.print(f"Applied: {escape(fault.describe())}")
            console.print(f"Verified: {escape(fault.evidence)}")
        else:
            console.print(f"Healed: {escape(fault.describe())}")

    exp.on_fault = on_fault
    journal = HoldProgress().run(exp)
    path = write_journal(journal, f"packet-{kind}", report_dir)
    if path is not None:
        console.print(f"Journal: {escape(str(path))}")
    unhealed = [f for f in journal.faults if f.action == "heal" and f.error]
    for f in unhealed:
        console.print(f"[red]Could not heal {escape(f.description)}: {escape(f.error or '')}; "
                      "run invoke chaos.reset[/]")  # fmt: skip
    left = _check_clean(fault, container) if not unhealed else ["the fault itself"]
    if isinstance(exp.failure, ChaosError):  # the apply failed (and healed itself), or did not take
        raise failed(exp.failure)
    if exp.interrupted_by is not None:
        raise Exit("interrupted: the fault was healed", code=128 + exp.interrupted_by)
    if left:
        raise Exit(code=1)


def _check_clean(fault, container: DockerService) -> list[str]:  # noqa: ANN001 - a packet fault
    """Read the namespace after the heal; what is still there is reported, never hidden."""
    if not container.is_running():
        console.print(f"{escape(container.container_name)} is not running: its namespace is gone")
        return []
    try:
        left = fault.leftovers()
    except ChaosError as exc:
        console.print(f"[red]Could not check {container.container_name} after the heal: {exc}[/]")
        return [str(exc)]
    if left:
        console.print(
            f"[red]Still in {escape(container.container_name)} after the heal: "
            f"{escape(', '.join(left))}; run invoke chaos.reset[/]"
        )
    else:
        console.print(f"Nothing of chaoslib's is left in {escape(container.container_name)}")
    return left
