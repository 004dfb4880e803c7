"""Declarative experiments: a YAML file of observers, faults on a timeline, and checks.

The whole file is validated before anything runs; an error names the file,
the line, the key, what is wrong and what is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaoslib.clock import REAL_CLOCK, Clock
from chaoslib.errors import ConfigError
from chaoslib.experiment import file_bounds as bounds
from chaoslib.experiment import file_packets as packets
from chaoslib.experiment import file_toxics as toxics
from chaoslib.experiment.file_checks import build_check
from chaoslib.experiment.runner import Experiment
from chaoslib.faults import schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.network import LinkDown
from chaoslib.faults.service import Restart, ServiceFault
from chaoslib.observe import (
    PostgresWorkload,
    PubSubWorkload,
    StreamWorkload,
    channel,
    logs,
    redis_ping,
    sql,
    tcp,
)
from chaoslib.observe.base import Observer
from chaoslib.target import Target
from chaoslib.yaml_lines import FileError, LineDict, Reader, load

duration = bounds.duration
LINK_FAULTS = (*toxics.KINDS, "down")
SERVICE_FAULTS = ("stop", "kill", "pause", "restart")
FAULT_TYPES = (*LINK_FAULTS, "partition", "packet", *SERVICE_FAULTS)
OBSERVERS = (
    "redis_ping",
    "sql",
    "tcp",
    "channel",
    "logs",
    "pubsub_workload",
    "stream_workload",
    "postgres_workload",
)
TOP = {"name", "profile", "timing", "steady_for", "observe_after", "observers", "faults", "checks"}


def load_experiment(
    path: str | Path, target: Target | None, *, clock: Clock = REAL_CLOCK
) -> Experiment:
    """Parse and validate ``path``; with ``target``, also resolve links and services and build it."""
    r = Reader(path)
    doc = load(path)
    if not isinstance(doc, LineDict):
        raise FileError(
            path, 1, "", "the file must be a YAML mapping with name, observers, faults and checks"
        )
    r.only(doc, TOP, "the experiment")
    exp = Experiment(
        name=r.get(doc, "name", str, required=True),
        profile=r.get(doc, "profile", str, default="local", choices=("local",)),
        timing=r.get(doc, "timing", str, default="fast", choices=("fast", "seed")),
        steady_for=duration(r, doc, "steady_for", default=1.0),
        observe_after=duration(r, doc, "observe_after", default=3.0),
        clock=clock,
    )
    observer_items = _list(r, doc, "observers")
    bounds.check_count(r, doc, "observers", observer_items, bounds.MAX_OBSERVERS)
    observers = [_observer(r, item, i, target, exp) for i, item in enumerate(observer_items)]
    names = {_observer_name(r, item, i) for i, item in enumerate(observer_items)}
    fault_items = _list(r, doc, "faults", required=True)
    faults, held, windows = [], [], 0
    for i, item in enumerate(fault_items):
        faults.append(_fault(r, item, i, target, clock))
        name, _, fault_windows, _ = faults[-1]
        held.append(_toxics(name, f"faults[{i}]", item, fault_windows))
        windows += len(fault_windows)
        if windows > bounds.MAX_WINDOWS:
            raise r.fail(
                item, f"faults[{i}]", f"the faults up to here hold {windows} times",
                f"at most {bounds.MAX_WINDOWS} holds in one file (a flap holds once per cycle)",
            )  # fmt: skip
    # The proxy's cap first: it is why a pile of faults on one link would fail mid-run.
    bounds.check_toxics_at_once(r, held)
    bounds.check_count(r, doc, "faults", fault_items, bounds.MAX_FAULTS)
    seen: set[str] = set()
    for name, fault, windows, item in faults:
        if name in seen:
            raise r.fail(
                item, "name", f"fault name {name!r} is used twice", "a unique name per fault"
            )
        seen.add(name)
        if fault is not None:
            exp.add(name, fault, windows)
    check_items = _list(r, doc, "checks")
    bounds.check_count(r, doc, "checks", check_items, bounds.MAX_CHECKS)
    exp.checks = [build_check(r, item, i, names, seen) for i, item in enumerate(check_items)]
    exp.observers = [o for o in observers if o is not None]
    return exp


def _list(r: Reader, doc: LineDict, key: str, required: bool = False) -> list[LineDict]:
    items = r.get(doc, key, list, default=[], required=required)
    if required and not items:
        raise r.fail(doc, key, "must list at least one entry")
    return [r.mapping(item, f"{key}[{i}]", doc) for i, item in enumerate(items)]


def _toxics(name: str, ctx: str, item: LineDict, windows: list[schedule.Window]) -> Any:
    """The toxics a (validated) fault entry puts on its link while it holds."""
    count = toxics.count(item)  # partitions, packets and service faults put none on a link
    return bounds.Toxics(name, ctx, str(item.get("link", "")), count, tuple(windows), item)


def _observer_name(r: Reader, item: LineDict, i: int) -> str:
    kind = str(item.get("type", ""))
    return r.get(
        item, "name", str, default=kind.removesuffix("_workload"), context=f"observers[{i}]"
    )


def _observer(
    r: Reader, item: LineDict, i: int, target: Target | None, exp: Experiment
) -> Observer | None:
    ctx = f"observers[{i}]"
    kind = r.get(item, "type", str, required=True, choices=OBSERVERS, context=ctx)
    allowed = {"type", "name", "link", "interval"} | {
        "channel": {"pattern"},
        "logs": {"path", "patterns"},
        "sql": {"query"},
    }.get(kind, set())
    r.only(item, allowed, ctx)
    name = _observer_name(r, item, i)
    interval = duration(
        r, item, "interval", default=0.02 if "workload" in kind else 0.1, minimum=0.001, context=ctx
    )
    if kind == "logs":
        path = r.get(item, "path", str, required=True, context=ctx)
        patterns = bounds.patterns(r, item, ctx)
        return logs(path, patterns, exp.history, name=name, clock=exp.clock)
    link = r.get(item, "link", str, required=True, context=ctx)
    pattern = r.get(item, "pattern", str, required=kind == "channel", context=ctx)
    query = r.get(item, "query", str, default="SELECT 1", context=ctx)
    if target is None:
        return None
    url = _resolve(r, item, ctx, lambda: target.url(link))
    common: dict[str, Any] = {"name": name, "clock": exp.clock}
    if kind == "redis_ping":
        return redis_ping(url, exp.history, interval=interval, **common)
    if kind == "sql":
        return sql(url, exp.history, query=query, interval=interval, **common)
    if kind == "tcp":
        address = _resolve(r, item, ctx, lambda: tcp_address(url))
        return tcp(address, exp.history, interval=interval, **common)
    if kind == "channel":
        return channel(url, pattern, exp.history, **common)
    workload = {
        "pubsub_workload": PubSubWorkload,
        "stream_workload": StreamWorkload,
        "postgres_workload": PostgresWorkload,
    }[kind]
    return workload(url, history=exp.history, interval=interval, **common)


def tcp_address(url: str) -> tuple[str, int]:
    """The host and port a link's URL connects to (redis://host:port/0,
    postgresql://user:password@host:port/db); a ConfigError if it names none."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = None
    if not parts.hostname or port is None:
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no password
        raise ConfigError(
            f"a tcp observer needs a host and port, and the link's URL {shown!r} names "
            "none; accepted: a link whose URL is like redis://127.0.0.1:6379/0 or "
            "postgresql://user:password@127.0.0.1:5432/db"
        )
    return parts.hostname, port


def _resolve(r: Reader, item: LineDict, ctx: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:
        key = "service" if "service" in item else "link"
        raise r.fail(item, f"{ctx}.{key}", str(exc)) from None


def _windows(r: Reader, item: LineDict, ctx: str) -> list[schedule.Window]:
    at = duration(r, item, "at", default=0.0, context=ctx)
    if "flap" in item:
        if "for" in item:
            raise r.fail(item, f"{ctx}.for", "cannot be combined with flap", "either for or flap")
        flap = r.mapping(item["flap"], f"{ctx}.flap", item)
        fctx = f"{ctx}.flap"
        r.only(flap, {"period", "down", "cycles", "jitter", "seed"}, fctx)
        try:
            return schedule.flap(
                duration(r, flap, "period", required=True, context=fctx),
                duration(r, flap, "down", required=True, context=fctx),
                r.get(
                    flap,
                    "cycles",
                    int,
                    required=True,
                    minimum=1,
                    maximum=bounds.MAX_WINDOWS,
                    context=fctx,
                ),
                at=at,
                jitter=duration(r, flap, "jitter", default=0.0, context=fctx),
                seed=r.get(flap, "seed", int, context=fctx),
            )
        except Exception as exc:
            raise r.fail(flap, fctx, str(exc)) from None
    return schedule.once(at, duration(r, item, "for", required=True, context=ctx))


def _fault(
    r: Reader, item: LineDict, i: int, target: Target | None, clock: Clock
) -> tuple[str, Fault | None, list[schedule.Window], LineDict]:
    ctx = f"faults[{i}]"
    kind = r.get(item, "type", str, required=True, choices=FAULT_TYPES, context=ctx)
    name = r.get(item, "name", str, required=True, context=ctx)
    timing = {"name", "type", "at", "for", "flap"}
    if kind in LINK_FAULTS:
        allowed = timing | {"link"} | toxics.keys(kind)
    elif kind == "partition":
        allowed = timing | {"links"}
    elif kind == "packet":
        allowed = timing | packets.PACKET_FIELDS
    else:
        allowed = timing | {"service"} | ({"down_for"} if kind == "restart" else set())
    r.only(item, allowed, ctx)
    windows = _windows(r, item, ctx)
    if kind == "packet":
        packet = packets.read_packet(r, item, ctx)
        if target is None:
            return name, None, windows, item
        fault = _resolve(r, item, ctx, lambda: packets.build_packet(target, packet, windows))
        return name, fault, windows, item
    if kind in LINK_FAULTS:
        link = r.get(item, "link", str, required=True, context=ctx)
        direction, toxicity, attrs = toxics.read(r, item, kind, ctx)
        if target is None:
            return name, None, windows, item
        on = _resolve(r, item, ctx, lambda: target.link(link))
        fault = _resolve(r, item, ctx, lambda: toxics.build(on, kind, direction, toxicity, attrs))
        return name, fault, windows, item
    if kind == "partition":
        links = r.get(item, "links", list, required=True, context=ctx)
        if target is None:
            return name, None, windows, item
        resolved = [
            _resolve(r, item, ctx, lambda link=link: target.link(str(link))) for link in links
        ]
        return (
            name,
            LinkDown(target.toxiproxy, [link.name for link in resolved], ledger=target.ledger),
            windows,
            item,
        )
    service_name = r.get(item, "service", str, required=True, context=ctx)
    down_for = duration(r, item, "down_for", default=0.0, context=ctx)
    if target is None:
        return name, None, windows, item
    service = _resolve(r, item, ctx, lambda: target.service(service_name))
    if kind == "restart":
        return name, Restart(service, down_for, clock=clock, ledger=target.ledger), windows, item
    return name, ServiceFault(service, kind, ledger=target.ledger), windows, item
