"""What a toxic schema entry is made of, and how one value is judged (no I/O).

:mod:`chaoslib.proxy.schema` holds the entries; this module holds their parts: an
attribute (kind, default, bounds, unit), a toxic type (attributes, streams, checks
across attributes), and the values every toxic takes (toxicity, clients). It
imports nothing of chaoslib but its errors.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chaoslib.errors import ConfigError

STREAMS = ("upstream", "downstream")
INT_MAX = 2**63 - 1  # what a real (Go) Toxiproxy holds in an int64
MAX_TEXT = 4096
MAX_ITEMS = 1000
ACTIONS = ("delay", "error", "close")  # what a protocol toxic does to a matching statement
SQLSTATE = re.compile(r"[0-9A-Z]{5}")


class BadValue(ConfigError):
    """A toxic value the schema refuses. ``body``: the value has the wrong shape (the API
    prefixes "bad request body: ", as Toxiproxy does for JSON it cannot decode)."""

    def __init__(self, message: str, *, body: bool = False, attribute: str = "") -> None:
        super().__init__(message)
        self.message, self.body, self.attribute = message, body, attribute


@dataclass(frozen=True)
class Attr:
    """One attribute: ``kind`` int (a whole number in ``minimum..maximum``), str
    (optionally one of ``choices``) or list (of non-empty strings, each a ``what``)."""

    name: str
    kind: str = "int"
    default: Any = 0
    minimum: int = 0
    maximum: int = INT_MAX
    unit: str = ""
    choices: tuple[str, ...] = ()
    what: str = ""
    # A field Toxiproxy's own toxic lacks: left out of the JSON while it has its default.
    extension: bool = False
    # A fault must state it (an experiment file's key, a Link method's positional
    # argument); the server, as Toxiproxy, defaults it.
    required: bool = False

    def parse(self, type_name: str, value: Any) -> Any:
        where = f"attribute {self.name} of {type_name}"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._bad(f"{where} must be a number, got {type(value).__name__}", True)
            if isinstance(value, float) and not value.is_integer():
                raise self._bad(f"{where} must be a whole number", True)
            number = int(value)
            if not self.minimum <= number <= self.maximum:
                unit = f" {self.unit}" if self.unit else ""
                raise self._bad(f"{where} is {number}; accepted: {self.accepted_range()}{unit}")
            return number
        if self.kind == "str":
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise self._bad(f"{where} must be a string of at most {MAX_TEXT} characters", True)
            if self.choices and value not in self.choices:
                raise self._bad(f"{where} is {value!r}; accepted: {', '.join(self.choices)}")
            return value
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
            raise self._bad(f"{where} must be a list of {self.what} (non-empty strings)", True)
        if len(value) > MAX_ITEMS:
            raise self._bad(f"{where} has {len(value)} items; accepted: at most {MAX_ITEMS}")
        return tuple(value)

    def accepted_range(self) -> str:
        return f"{self.minimum} to {self.maximum}"

    def _bad(self, message: str, body: bool = False) -> BadValue:
        return BadValue(message, body=body, attribute=self.name)


Check = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True)
class ToxicType:
    name: str
    summary: str
    attrs: tuple[Attr, ...] = ()
    streams: tuple[str, ...] = STREAMS
    # Checks across attributes, run on the merged values (an update changes some).
    checks: tuple[Check, ...] = ()
    # It counts statements (``stats``: matched, passed), read before it is removed.
    counts: bool = False

    @property
    def default_stream(self) -> str:
        return self.streams[0] if len(self.streams) == 1 else "downstream"

    @property
    def directions(self) -> tuple[str, ...]:
        """What a fault may ask for: a stream, or ``both`` when the type accepts two."""
        return (*self.streams, "both") if len(self.streams) > 1 else self.streams

    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attrs)

    def defaults(self) -> dict[str, Any]:
        return {a.name: a.default for a in self.attrs}

    def parse(self, raw: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict:
        """Every attribute's value: those in ``raw`` checked and merged over ``base`` (or
        the defaults). Keys that are not attributes are ignored, as Toxiproxy does."""
        values = dict(base) if base is not None else self.defaults()
        for a in self.attrs:
            if a.name in raw:
                values[a.name] = a.parse(self.name, raw[a.name])
        for check in self.checks:
            check(self.name, values)
        return values

    def stream_list(self, direction: str) -> tuple[str, ...]:
        """The streams a fault in ``direction`` puts this toxic on."""
        if direction not in self.directions:
            if len(self.streams) > 1:
                raise BadValue(
                    f"direction {direction!r} is not valid; use upstream, downstream or both"
                )
            raise BadValue(
                f"direction {direction!r} is not accepted for {self.name}: it reads what "
                f"the client sends; accepted: {', '.join(self.directions)}"
            )
        return self.streams if direction == "both" else (direction,)


def check_regex(type_name: str, field: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise BadValue(
            f"attribute {field} of {type_name} is not a regex: {exc}", attribute=field
        ) from None


def parse_toxicity(value: Any) -> float:
    """The share of connections a toxic acts on, 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"toxicity must be a number, got {type(value).__name__}", body=True)
    if not 0.0 <= value <= 1.0:  # a nan fails this too
        raise BadValue(f"toxicity is {value}; accepted: 0 to 1")
    return float(value)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_clients(value: Any) -> tuple[Network, ...]:
    """The ``clients`` attribute any toxic accepts: source IPs or CIDRs it applies to."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or len(value) > MAX_ITEMS:
        raise BadValue(
            f"attribute clients must be a list of at most {MAX_ITEMS} IP addresses "
            'or CIDRs, such as ["127.0.0.2", "10.0.0.0/8"]',
            body=True,
            attribute="clients",
        )
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except (TypeError, ValueError):
            raise BadValue(
                f"attribute clients: {item!r} is not an IP address or CIDR; "
                'accepted: such as "127.0.0.2" or "10.0.0.0/8"',
                attribute="clients",
            ) from None
    return tuple(networks)
