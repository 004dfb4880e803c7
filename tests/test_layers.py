"""Each layer only calls the one below it: fault primitives know nothing of what opens them.

Read from the source (ast), so a lazy import inside a function counts as much as one at
the top of a module: either would tie the faults to the layers above them again.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

FAULTS = Path(__file__).resolve().parent.parent / "chaoslib" / "faults"
# What opens a target, and everything above it: the faults take plain pieces instead.
# profile* and stack* take in profile_contract, stack_file...; cli is not chaoslib.clock.
ABOVE_FAULTS = re.compile(
    r"chaoslib\.(environment|profile\w*|stack\w*|target|system|suite|cli)(\.|$)"
)


def imported_modules(source: str, package: str = "chaoslib.faults") -> set[str]:
    """Every module ``source`` imports, anywhere in it, as an absolute dotted name.

    ``from chaoslib import stack`` names ``chaoslib.services.stack``: the names imported from a
    package may be its modules."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def forbidden(modules: set[str]) -> list[str]:
    """The modules from above, each once (not also every name imported from it)."""
    found = {name for name in modules if ABOVE_FAULTS.match(name)}
    return sorted(n for n in found if not any(n.startswith(f"{m}.") for m in found))


@pytest.mark.parametrize(
    "source",
    [
        "from chaoslib.environment import Environment",
        "from chaoslib.profiles.contract import Beat",
        "from chaoslib import stack",
        "import chaoslib.services.stack_file",
        "def f():\n    from chaoslib.target import open_target\n",
        "from ..system import SystemBase",
        "from chaoslib.cli.output import console",
        "from chaoslib.scenarios.suite import Suite",
    ],
)
def test_the_layer_check_catches_an_import_from_above(source):
    assert forbidden(imported_modules(source)), source


def test_the_layer_check_lets_the_layers_below_through():
    source = (
        "from chaoslib.errors import ConfigError\nfrom chaoslib.toxiproxy.client import Toxiproxy\n"
        "from chaoslib.services.docker import DockerService\nfrom . import ledger\n"
        "from chaoslib.services.compose_facts import published_port\n"
        "from chaoslib.clock import REAL_CLOCK\nfrom chaoslib import schedule\n"
    )
    assert forbidden(imported_modules(source)) == []


def test_no_fault_module_imports_what_opens_a_target_or_anything_above_it():
    modules = sorted(FAULTS.glob("*.py"))
    assert len(modules) > 10  # the package really was read
    leaks = {
        path.name: found
        for path in modules
        if (found := forbidden(imported_modules(path.read_text(encoding="utf-8"))))
    }
    assert leaks == {}
