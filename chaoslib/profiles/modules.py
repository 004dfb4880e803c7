"""Whether a process service's ``module`` exists, found the way ``python -m`` will find it.

A module that is not there used to surface only when the system started: the child
died, and its 87-line traceback was logged. Looked up on disk at profile load instead,
without importing anything (not even the parent packages, as importlib's find_spec
would): the profile's own code runs only in its own process.
"""

from __future__ import annotations

import re
import sys
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path

# A process service runs as ``python -m module`` from the checkout (system.LocalSystem).
CHECKOUT = Path(__file__).resolve().parents[2]  # chaoslib/profiles/modules.py
DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def runnable(module: str) -> bool:
    """Would ``python -m module``, run from the checkout, find something to run?"""
    if not DOTTED.fullmatch(module):
        return False
    parts = module.split(".")
    spec = _top(parts[0])
    for i in range(1, len(parts)):
        if spec is None or spec.submodule_search_locations is None:
            return False  # missing, or a plain module, which has no submodules
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), list(spec.submodule_search_locations))
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:  # a package runs its __main__
        main = PathFinder.find_spec(f"{module}.__main__", list(spec.submodule_search_locations))
        return main is not None
    return True


def child_path() -> list[str]:
    """The search path ``python -m`` will have in the child: the checkout (its working
    directory), then what it inherits (PYTHONPATH, the standard library, site-packages).

    Not this process's ``sys.path[0]``: that is where *this* process was started from
    (the shell's directory under ``python -m invoke``, the venv's bin under ``invoke``),
    which the child never sees; counting it made the answer depend on how invoke ran."""
    inherited = sys.path if sys.flags.safe_path else sys.path[1:]
    return [str(CHECKOUT), *inherited]


def _top(name: str) -> ModuleSpec | None:
    spec = PathFinder.find_spec(name, child_path())
    if spec is not None:
        return spec
    # An installed finder (an editable install's) may map the name without a path entry.
    for finder in sys.meta_path:
        if finder is PathFinder or not hasattr(finder, "find_spec"):
            continue
        try:
            found = finder.find_spec(name, None)
        except (ImportError, ValueError):
            continue
        if found is not None:
            return found
    return None
