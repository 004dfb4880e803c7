"""What an experiment file may ask for: how long, how many, and regexes that compile.

Each bound is checked while the file is read, so a file that would fail mid-run (a
sleep of ``inf``, the proxy's toxic cap reached at the 101st fault, a log regex that
does not compile) is refused with its line before anything is applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chaoslib.durations import ACCEPTED, parse_duration
from chaoslib.errors import ConfigError
from chaoslib.faults.schedule import Window
from chaoslib.proxy.limits import Limits
from chaoslib.yaml_lines import LineDict, Reader

# Any duration in a file (at, for, steady_for, a flap's period, a check's within): a day
# is far beyond a chaos experiment and far inside what a sleep can take.
MAX_SECONDS = 86_400.0
NUMBER = (int, float)
MAX_FAULTS = 1000
MAX_OBSERVERS = 100  # each is a thread with its own connection
MAX_CHECKS = 1000
MAX_WINDOWS = 10_000  # every fault's holds together: a flap holds once per cycle
# The proxy refuses a toxic past this many on one proxy (both streams together). It is
# chaoslib's proxy's default (-max-toxics), which the stack runs with; a real Toxiproxy
# has no cap, and the same bound keeps a file from piling thousands onto one link.
TOXIC_CAP = Limits().max_toxics


@dataclass(frozen=True)
class Toxics:
    """How many toxics one fault holds on one link while it holds, and when."""

    fault: str
    ctx: str  # faults[i], for the error
    link: str
    count: int
    windows: tuple[Window, ...]
    item: LineDict


def check_toxics_at_once(r: Reader, faults: list[Toxics], cap: int = TOXIC_CAP) -> None:
    """No moment of the timeline has more than ``cap`` toxics on one link."""
    by_link: dict[str, list[tuple[float, int, Toxics]]] = {}
    for t in faults:
        if t.count:
            for w in t.windows:
                # A heal sorts before an apply at the same instant, as on the timeline.
                by_link.setdefault(t.link, []).extend([(w.start, 1, t), (w.end, 0, t)])
    for link, events in by_link.items():
        active: dict[str, Toxics] = {}
        total = 0
        for at, verb, t in sorted(events, key=lambda e: (e[0], e[1])):
            if verb == 0:
                total -= active.pop(t.fault).count if t.fault in active else 0
                continue
            active[t.fault] = t
            total += t.count
            if total > cap:
                names = list(active)
                more = f" and {len(names) - 5} more" if len(names) > 5 else ""
                raise r.fail(
                    t.item,
                    f"{t.ctx}.link",
                    f"{total} toxics would be on link {link!r} at once, {at:g} s into the "
                    f"faults ({len(names)} faults: {', '.join(names[:5])}{more}); the proxy "
                    f"holds at most {cap} per link and refuses the rest mid-run",
                    f"at most {cap} toxics on one link at a time (direction: both counts two)",
                )


def check_count(r: Reader, doc: LineDict, key: str, items: list[Any], limit: int) -> None:
    if len(items) > limit:
        raise r.fail(doc, key, f"lists {len(items)} entries", f"at most {limit} {key}")


def patterns(r: Reader, item: LineDict, ctx: str) -> dict[str, str]:
    """A logs observer's patterns (a list of regexes, or name: regex), each compiled."""
    raw = r.get(item, "patterns", (list, dict), required=True, context=ctx)
    label = f"{ctx}.patterns"
    if not raw:
        raise r.fail(item, label, "lists no pattern", "a list of regexes, or name: regex")
    if isinstance(raw, dict):
        where = raw if isinstance(raw, LineDict) else item
        pairs = [(str(k), v, where, f"{label}.{k}") for k, v in raw.items()]
    else:
        pairs = [(v, v, item, f"{label}[{i}]") for i, v in enumerate(raw)]
    out: dict[str, str] = {}
    for key, regex, where, name in pairs:
        if not isinstance(regex, str) or not regex:
            raise r.fail(where, name, f"must be a regex, got {regex!r}", "a non-empty string")
        regex_error(r, where, name, regex)
        out[str(key)] = regex
    return out


def regex_error(r: Reader, where: LineDict, key: str, regex: str) -> None:
    try:
        re.compile(regex)
    except re.error as exc:
        raise r.fail(
            where, key, f"{regex!r} is not a valid regex: {exc}", "a Python regular expression"
        ) from None


def duration(
    r: Reader,
    data: LineDict,
    key: str,
    *,
    default: float | None = None,
    required: bool = False,
    minimum: float = 0.0,
    maximum: float = MAX_SECONDS,
    context: str = "",
) -> Any:
    """A duration in seconds: a number, or a string with a unit (``500ms``, ``30s``, ``2m``)
    as everywhere else (chaoslib.durations). A nan, an inf or a negative is refused here,
    with its line, and never reaches a sleep."""
    label = f"{context}.{key}" if context else key
    if key not in data or data[key] is None:
        if required:
            raise r.missing(data, label, "is required")
        return default
    value = data[key]
    if isinstance(value, int | float) and not isinstance(value, bool):
        # The reader's checks: finite, and within the bounds.
        return float(r.get(data, key, NUMBER, minimum=minimum, maximum=maximum, context=context))
    if not isinstance(value, str):
        raise r.fail(data, label, f"must be a duration, got {value!r}", ACCEPTED)
    try:
        return parse_duration(value, label, minimum=minimum, maximum=maximum)
    except ConfigError as exc:
        # parse_duration says "<what>=<value> is ..."; the key is already in the message.
        raise r.fail(data, label, str(exc).removeprefix(f"{label}=")) from None
