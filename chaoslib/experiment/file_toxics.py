"""An experiment file's toxic faults: one fault type per toxic type of the schema
(:mod:`chaoslib.proxy.schema`), and ``stall`` (bandwidth 0, a stall that heals).

    - {name: slow-db, type: latency, link: timescaledb, latency: 300, at: 0, for: 10}
    - {name: slow-writes, type: pg_query, link: timescaledb, pattern: "INSERT INTO orders",
       delay_ms: 2000, at: 0, for: 10}

An entry's keys are the type's attributes, with the schema's kinds, bounds and
required ones; ``direction`` is there for the types that act on either stream. The
values are judged as the proxy will judge them when the file is read, so a bad
regex, SQLSTATE or range names its line before anything runs. A toxic added to the
schema is a fault type here with nothing else to write.
"""

from __future__ import annotations

from typing import Any

from chaoslib.faults.base import Fault
from chaoslib.proxy.schema import SCHEMA, BadValue, ToxicType, check_fault
from chaoslib.yaml_lines import LineDict, Reader

# Fault types that are a toxic with fixed values.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {"stall": ("bandwidth", {"rate": 0})}
KINDS = (*SCHEMA, *ALIASES)
DOWN = ToxicType("down", "the link disabled")  # no toxic; its direction and toxicity are read
# What a file may write for each kind of attribute (a whole float, 2.0, is a whole number
# to the proxy too).
_YAML = {"int": (int, float), "str": str, "list": list}


def toxic_type(kind: str) -> ToxicType:
    return SCHEMA[ALIASES[kind][0]] if kind in ALIASES else SCHEMA[kind]


def keys(kind: str) -> set[str]:
    """The keys an entry of ``kind`` (or ``down``) may have beside name, type, link and
    its timing."""
    if kind == "down":
        return {"direction", "toxicity"}  # read (and checked) though a link down has neither
    toxic = toxic_type(kind)
    out = {"toxicity"} | ({"direction"} if len(toxic.directions) > 1 else set())
    return out if kind in ALIASES else out | set(toxic.names())


def read(r: Reader, item: LineDict, kind: str, ctx: str) -> tuple[str, float, dict[str, Any]]:
    """``(direction, toxicity, attributes)`` of a toxic fault entry, as the proxy would judge them."""
    toxic = DOWN if kind == "down" else toxic_type(kind)
    direction = r.get(
        item, "direction", str, default=toxic.default_stream, choices=toxic.directions, context=ctx
    )
    toxicity = r.get(item, "toxicity", (int, float), default=1.0, minimum=0, maximum=1, context=ctx)
    if kind == "down":
        return direction, toxicity, {}
    if kind in ALIASES:
        return direction, toxicity, dict(ALIASES[kind][1])
    attrs = {}
    for a in toxic.attrs:
        value = r.get(item, a.name, _YAML[a.kind], required=a.required, context=ctx)
        if value is not None:
            attrs[a.name] = value
    try:
        attrs = check_fault(toxic.name, attrs)
    except BadValue as exc:
        raise r.fail(item, f"{ctx}.{kind}", exc.message) from None
    return direction, toxicity, attrs


def count(item: LineDict) -> int:
    """The toxics a validated fault entry puts on its link while it holds."""
    if item["type"] not in KINDS:
        return 0  # down disables the proxy; other faults put nothing on a link
    return 2 if item.get("direction") == "both" else 1


def build(target: Any, kind: str, direction: str, toxicity: float, attrs: dict) -> Fault:
    """The fault on ``target`` (a Link)."""
    if kind == "down":
        return target.down()
    return target.toxic(toxic_type(kind).name, direction=direction, toxicity=toxicity, **attrs)
