"""The architecture, as a rule the imports must keep: read from the source with ast.

Every import counts, wherever it is: at the top, inside a function (a lazy import ties
two modules as surely) and under ``if TYPE_CHECKING:`` (a type-only circle is still a
circle for the next reader). docs/architecture.md explains the layers; this table is
what holds them.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

# Lowest first. A module may import its own layer and the layers below it, never one
# above. The first segment under chaoslib/ names the layer; "chaoslib" is the package's
# own __init__ (its face).
LAYERS: list[tuple[str, set[str]]] = [
    ("leaves", {"chaoslib", "errors", "clock", "log", "durations", "wait", "state", "yaml_lines"}),
    ("proxy", {"proxy"}),  # the embedded Toxiproxy-compatible server, standalone
    ("client", {"toxiproxy"}),  # the typed client of any Toxiproxy API
    ("services", {"services"}),  # processes and containers, the embedded stack
    ("observe", {"observe"}),  # probes, channels, logs, webhook sink, workloads
    ("faults", {"faults"}),  # apply/heal pairs, the ledger, schedules
    ("profiles", {"profiles"}),  # one system under test, read from its YAML
    ("target", {"target"}),  # what faults act on, opened from a profile
    ("experiment", {"experiment"}),  # runner, journal, checks, experiment files
    ("scenarios", {"scenarios"}),  # the guide's nine, the suite, its checklist
    ("reports", {"reports"}),  # journal.json, junit.xml, report.html of a suite
    ("front ends", {"pytest_plugin", "cli"}),
    ("examples", {"examples"}),  # systems under test that ship with chaoslib
]
# Narrower than "the layers below": a layer that may import only these, or never these.
ONLY = "only"
NEVER = "never"
RULES: list[tuple[str, str, set[str]]] = [
    ("proxy", ONLY, {"proxy", "errors", "log", "durations"}),  # durations: a pure parser
    ("faults", NEVER, {"experiment", "scenarios", "cli"}),
    ("observe", NEVER, {"faults"}),
    ("examples", ONLY, {"examples"}),  # a system under test knows nothing of its tester
]

PACKAGE = Path(__file__).resolve().parents[2] / "chaoslib"


def read_package(package: Path = PACKAGE) -> dict[str, str]:
    """Every module's source by dotted name (a package by its own name)."""
    sources = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
            sources[".".join(parts) + ".__init__"] = path.read_text()
        else:
            sources[".".join(parts)] = path.read_text()
    return sources


def import_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """module -> the chaoslib modules it imports, in any way. ``from a import b`` names
    module ``a.b`` when there is one, else ``a``; a relative import is resolved."""
    modules = {name.removesuffix(".__init__") for name in sources}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for key, source in sources.items():
        module = key.removesuffix(".__init__")
        package = module if key.endswith(".__init__") else module.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in modules else base)
        graph[module] = {
            target
            for name in found
            if name.split(".")[0] == "chaoslib" and (target := resolve(name)) not in (None, module)
        }
    return graph


def layer_of(module: str) -> str:
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else "chaoslib"
    for name, members in LAYERS:
        if head in members:
            return name
    raise LookupError(f"{module} is in no layer: add {head!r} to LAYERS in {__file__}")


def head_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "chaoslib"


def upward(graph: Mapping[str, set[str]]) -> list[str]:
    rank = {name: i for i, (name, _) in enumerate(LAYERS)}
    return sorted(
        f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)}), a layer above"
        for a, targets in graph.items()
        for b in targets
        if rank[layer_of(b)] > rank[layer_of(a)]
    )


def broken_rules(graph: Mapping[str, set[str]]) -> list[str]:
    found = []
    for layer, kind, names in RULES:
        for a, targets in graph.items():
            if layer_of(a) != layer:
                continue
            for b in targets:
                allowed = head_of(b) in names if kind == ONLY else head_of(b) not in names
                if not allowed:
                    what = "may import only" if kind == ONLY else "must not import"
                    found.append(f"{a} imports {b}: {layer} {what} {sorted(names)}")
    return sorted(found)


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def problems(sources: Mapping[str, str]) -> list[str]:
    graph = import_graph(sources)
    return (
        upward(graph) + broken_rules(graph) + [f"circle: {' -> '.join(c)}" for c in circles(graph)]
    )


# -- the package itself ---------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = import_graph(read_package())
    assert len(found) > 150  # the package really was read
    return found


def test_every_module_belongs_to_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_no_layer_imports_one_above_it(graph):
    assert upward(graph) == []


def test_the_narrower_rules_hold(graph):
    assert broken_rules(graph) == []


def test_no_import_circle_of_any_kind(graph):
    assert circles(graph) == []


def test_the_root_holds_only_the_face_and_the_leaves():
    loose = sorted(p.stem for p in PACKAGE.glob("*.py"))
    leaves = dict(LAYERS)["leaves"] - {"chaoslib"}
    assert set(loose) == leaves | {"__init__"}, loose


# -- the rule can fail ------------------------------------------------------------------
def package(extra: Mapping[str, str]) -> dict[str, str]:
    """A small package of empty modules, one per layer, plus ``extra``."""
    base = {"chaoslib.__init__": "", "chaoslib.errors": "", "chaoslib.log": ""}
    for _, members in LAYERS[1:]:
        for head in members:
            base[f"chaoslib.{head}.__init__"] = ""
            base[f"chaoslib.{head}.core"] = ""
    return {**base, **extra}


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("chaoslib.faults.core", "from chaoslib.experiment import core", "a layer above"),
        (
            "chaoslib.faults.core",
            "def f():\n    import chaoslib.scenarios.core\n",
            "faults must not import",
        ),
        ("chaoslib.proxy.core", "from chaoslib.clock import REAL_CLOCK", "proxy may import only"),
        ("chaoslib.proxy.core", "from chaoslib.toxiproxy import core", "a layer above"),
        ("chaoslib.observe.core", "from ..faults import core", "observe must not import"),
        ("chaoslib.services.core", "from chaoslib.target.core import Target", "a layer above"),
        (
            "chaoslib.examples.core",
            "from chaoslib.errors import ChaosError",
            "examples may import only",
        ),
    ],
)
def test_a_forbidden_import_is_reported(module, source, expected):
    extra = {module: source, "chaoslib.clock": ""}
    found = problems(package(extra))
    assert any(expected in line and line.startswith(module) for line in found), found


def test_a_type_only_circle_is_reported():
    extra = {
        "chaoslib.proxy.a": "from chaoslib.proxy.b import B",
        "chaoslib.proxy.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from chaoslib.proxy.a import A\n",
    }
    assert problems(package(extra)) == ["circle: chaoslib.proxy.a -> chaoslib.proxy.b"]


def test_a_lazy_circle_through_a_package_face_is_reported():
    extra = {
        "chaoslib.scenarios.__init__": "from chaoslib.scenarios import base",
        "chaoslib.scenarios.base": "def f():\n    from chaoslib.scenarios import common\n",
        "chaoslib.scenarios.common": "from .base import check",
    }
    assert problems(package(extra)) == [
        "circle: chaoslib.scenarios.base -> chaoslib.scenarios.common"
    ]


def test_imports_of_the_layers_below_pass():
    extra = {
        "chaoslib.faults.core": "from chaoslib.errors import ChaosError\n"
        "from chaoslib.services import core\nfrom . import core as same\n"
        "import chaoslib.proxy.core\n",
    }
    assert problems(package(extra)) == []
