"""``open_target``: the one way the fault tasks, ``chaos.run`` and scripts get a Target."""

from __future__ import annotations

from pathlib import Path

from chaoslib.faults.ledger import Ledger
from chaoslib.target.base import Target
from chaoslib.target.local import local_target, running_stack


def open_target(profile: str | None, home: Path | None = None, *, force: bool = False) -> Target:
    """The embedded stack (no profile, or one without compose), or a running compose project.

    A profile marked ``protected: true`` is refused unless ``force``.
    """
    if not profile:
        return local_target(running_stack(home))
    from chaoslib.profiles import load_profile

    loaded = load_profile(profile)
    loaded.guard(force)
    if loaded.compose is None:
        return local_target(running_stack(home), loaded.links)
    from chaoslib.target.compose import compose_target

    return compose_target(loaded, Ledger(home))
