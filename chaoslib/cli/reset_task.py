"""``invoke chaos.reset``: heal what a run that died left behind, and nothing else."""

from __future__ import annotations

from invoke import task
from invoke.exceptions import Exit
from rich.markup import escape

from chaoslib.cli.flags import PROFILE, V
from chaoslib.cli.output import console, fail, setup
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.faults.recovery import FAILED
from chaoslib.state import locate_home
from chaoslib.target.reset import reset_all

ALL = (
    "Also remove what was not applied by chaoslib: reset the stack's proxy whole (every "
    "toxic removed and every link enabled, the user's own included). Without it, those "
    "are named and left alone."
)


@task(
    incrementable=["verbose"],
    help={
        "verbose": V,
        "profile": PROFILE + " Checked, and its proxy's links reported.",
        "all_": ALL,
    },
)
def reset(c, verbose=0, profile=None, all_=False):
    """Undo every fault a crashed run left: ledger entries, a suite's stack and the projects it created."""
    setup(verbose)
    try:
        done = reset_all(profile=profile or None, everything=all_)
    except ChaosError as exc:  # a setting or profile that cannot be used is usage: 2
        raise fail(exc, 2 if isinstance(exc, ConfigError) else 1) from None
    if not done:
        console.print(
            "Nothing to reset: no fault in the ledger and no stack running "
            f"(looked in {escape(str(locate_home()))})."
        )
    for line in done:
        console.print(f"  {escape(line)}")
    if any(line.startswith(FAILED) for line in done):
        raise Exit("some faults could not be healed (see FAILED above)", code=1)
