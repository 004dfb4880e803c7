"""The toxic schema: every toxic type's attributes, bounds, messages and streams, once.

Every reader of a toxic's values judges them by this table, so they accept and
refuse the same ones: the proxy server's API (``chaoslib.proxy.toxics``), the client-side fault
builders (``chaoslib.faults.network.Link``), and an experiment file's fault entries
(``chaoslib.experiment.file_toxics``). It does no I/O and imports nothing of chaoslib but
its errors (and :mod:`chaoslib.proxy.schema_types`, the parts an entry is made of), so
any of them, and the proxy, which may import nothing else, can load it without
starting a server.

Adding a toxic type is two steps:

1. one entry in ``SCHEMA`` below: its attributes (name, kind, default, bounds, unit),
   the streams it accepts, and any check across its attributes;
2. one behaviour module in ``chaoslib/proxy/toxics/`` (a ``Toxic`` subclass with the
   same ``type_name``, imported by ``toxics/__init__.py``), which says what it does to
   the data. Its ``Attributes`` dataclass is generated from the entry.

Link faults, the experiment file's fault types and the server's validation follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaoslib.proxy.schema_types import (
    ACTIONS,
    INT_MAX,
    MAX_ITEMS,
    MAX_TEXT,
    SQLSTATE,
    STREAMS,
    Attr,
    BadValue,
    Network,
    ToxicType,
    check_regex,
    parse_clients,
    parse_toxicity,
)

__all__ = [
    "ACTIONS",
    "INT_MAX",
    "MAX_ITEMS",
    "MAX_TEXT",
    "SCHEMA",
    "STREAMS",
    "Attr",
    "BadValue",
    "Network",
    "ToxicType",
    "check_fault",
    "check_regex",
    "lookup",
    "parse_clients",
    "parse_toxicity",
]


def check_fault(type_name: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A fault's attributes as given, checked as the server will judge them, plus what
    a client must state: no unknown key (a typo the server would ignore), no required
    attribute missing. The values the server would store come back, only those given."""
    toxic = lookup(type_name)
    known = (*toxic.names(), "clients")
    for key in attributes:
        if key not in known:
            raise BadValue(
                f"{type_name} has no attribute {key!r}; accepted: {', '.join(known)}",
                attribute=str(key),
            )
    for a in toxic.attrs:
        if a.required and a.name not in attributes:
            raise BadValue(f"attribute {a.name} of {type_name} is required", attribute=a.name)
    parsed = toxic.parse(attributes)
    if "clients" in attributes:
        parse_clients(attributes["clients"])
    out = {k: parsed[k] for k in attributes if k in parsed}
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
    if "clients" in attributes:
        out["clients"] = list(attributes["clients"])
    return out


def lookup(type_name: str) -> ToxicType:
    try:
        return SCHEMA[type_name]
    except (KeyError, TypeError):
        raise BadValue(
            f"toxic type {type_name!r} is not known; accepted: {', '.join(SCHEMA)}"
        ) from None


# -- the checks across attributes -----------------------------------------------------
def _slicer(type_name: str, v: Mapping[str, Any]) -> None:
    # Toxiproxy recurses forever on average_size <= 0 and dies; refuse it.
    if v["average_size"] < 1:
        raise BadValue(
            f"attribute average_size of slicer is {v['average_size']}; accepted: 1 or more bytes",
            attribute="average_size",
        )
    # Up to the average is honoured (Toxiproxy's clients create 1000/1000); past it a
    # piece would have to be shorter than nothing, and Toxiproxy panics on it.
    if v["size_variation"] > v["average_size"]:
        raise BadValue(
            f"attribute size_variation of slicer is {v['size_variation']}; "
            f"accepted: 0 to average_size ({v['average_size']}) bytes, since a piece "
            "cannot be shorter than 0 bytes",
            attribute="size_variation",
        )


def _pg_query(type_name: str, v: Mapping[str, Any]) -> None:
    check_regex(type_name, "pattern", v["pattern"])
    if not SQLSTATE.fullmatch(v["sqlstate"]):
        raise BadValue(
            f"attribute sqlstate of pg_query is {v['sqlstate']!r}; accepted: five digits "
            'or capitals, such as "57014" (query_canceled) or "40001" (serialization_failure)',
            attribute="sqlstate",
        )


def _redis_command(type_name: str, v: Mapping[str, Any]) -> None:
    check_regex(type_name, "key_pattern", v["key_pattern"])
    if not v["error"].strip():
        raise BadValue(
            "attribute error of redis_command is empty; accepted: an error code and text, "
            'such as "LOADING Redis is loading the dataset in memory"',
            attribute="error",
        )


def _ms(name: str, required: bool = False) -> Attr:
    return Attr(name, unit="ms", required=required)


def _action() -> Attr:
    return Attr("action", "str", "delay", choices=ACTIONS)


def _count() -> Attr:
    return Attr("count", unit="matches (0: no limit)")


_TYPES = (
    ToxicType(
        "latency",
        "delay each chunk by latency ± jitter ms",
        (_ms("latency", required=True), _ms("jitter")),
    ),
    ToxicType(
        "bandwidth",
        "limit a direction to rate KB/s; 0 stalls without closing",
        (
            Attr("rate", unit="KB/s (1 KB = 1000 bytes)", required=True),
            Attr("scope", "str", "connection", choices=("connection", "proxy"), extension=True),
        ),
    ),
    ToxicType(
        "connect_delay",
        "hold a new connection delay ± jitter ms before opening the upstream",
        (_ms("delay", required=True), _ms("jitter")),
        streams=("upstream",),
    ),
    ToxicType(
        "limit_data", "close after bytes bytes", (Attr("bytes", unit="bytes", required=True),)
    ),
    ToxicType(
        "limit_time",
        "close a connection time ms after it opened",
        (
            _ms("time", required=True),
            Attr("reset", maximum=1, unit="(0: close with FIN, 1: with RST)"),
        ),
    ),
    ToxicType("noop", "pass everything through"),
    ToxicType("reset_peer", "reset the connection timeout ms after data", (_ms("timeout"),)),
    ToxicType(
        "slicer",
        "cut chunks into average_size ± size_variation bytes, delay µs apart",
        (
            Attr("average_size", unit="bytes", required=True),
            Attr("size_variation", unit="bytes"),
            Attr("delay", unit="µs"),
        ),
        checks=(_slicer,),
    ),
    ToxicType("slow_close", "hold the close delay ms", (_ms("delay", required=True),)),
    ToxicType("timeout", "drop all data; close after timeout ms (0: never)", (_ms("timeout"),)),
    ToxicType(
        "pg_query",
        "delay, fail or cut PostgreSQL statements whose SQL matches pattern",
        (
            Attr("pattern", "str", ""),
            _action(),
            _ms("delay_ms"),
            Attr("sqlstate", "str", "57014"),
            Attr("message", "str", "canceling statement due to statement timeout"),
            _count(),
        ),
        streams=("upstream",),
        checks=(_pg_query,),
        counts=True,
    ),
    ToxicType(
        "redis_command",
        "delay, refuse or cut Redis commands by name and key",
        (
            Attr("commands", "list", (), what="command names"),
            Attr("key_pattern", "str", ""),
            _action(),
            _ms("delay_ms"),
            Attr("error", "str", "READONLY You can't write against a read only replica."),
            _count(),
        ),
        streams=("upstream",),
        checks=(_redis_command,),
        counts=True,
    ),
)
SCHEMA: dict[str, ToxicType] = {t.name: t for t in _TYPES}
