"""Experiment-file faults on statements: ``pg_query`` and ``redis_command`` (chaoslib's proxy).

    - {name: slow-writes, type: pg_query, link: timescaledb, pattern: "INSERT INTO game_states",
       delay_ms: 2000, at: 0, for: 10}

The attributes are checked with the proxy's own rules when the file is read,
so a bad regex or SQLSTATE names its line before anything runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from chaoslib.faults.base import Fault
from chaoslib.proxy.errors import ApiError
from chaoslib.proxy.toxics import TOXIC_TYPES
from chaoslib.yaml_lines import LineDict, Reader

STATEMENT_FAULTS = ("pg_query", "redis_command")
_TYPES = {"int": int, "str": str, "list": list}


def fields(kind: str) -> set[str]:
    return {f.name for f in dataclasses.fields(TOXIC_TYPES[kind].Attributes)}


def read(r: Reader, item: LineDict, kind: str, ctx: str) -> dict[str, Any]:
    """The toxic's attributes from the fault entry, validated as the server would."""
    cls = TOXIC_TYPES[kind]
    attrs = {}
    for f in dataclasses.fields(cls.Attributes):
        value = r.get(item, f.name, _TYPES[f.metadata["kind"]], context=ctx)
        if value is not None:
            attrs[f.name] = value
    try:
        cls.parse_attributes(attrs)
    except ApiError as exc:
        raise r.fail(item, f"{ctx}.{kind}", exc.message) from None
    return attrs


def build(link: Any, kind: str, attrs: dict[str, Any]) -> Fault:
    if kind == "pg_query":
        return link.pg_query(attrs.pop("pattern", ""), **attrs)
    return link.redis_command(attrs.pop("commands", []), **attrs)
