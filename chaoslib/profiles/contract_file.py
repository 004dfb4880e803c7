"""Reading a profile's ``contract:`` section, every key checked at the file and line it was
written. Every part is optional: what is left out makes the checks that need it unknown."""

from __future__ import annotations

import re
from typing import Any

from chaoslib.profiles.contract import (
    ALERTS,
    FILE_FORMATS,
    LOG_PATTERNS,
    METRICS,
    AlertDef,
    AlertSinks,
    CommandsDef,
    Contract,
    HeartbeatDef,
    Roles,
    SignalsDef,
)
from chaoslib.yaml_lines import LineDict, Reader

PATH = re.compile(r"[^.\s]+(\.[^.\s]+)*")  # a dotted path into a JSON payload
SECTIONS = {
    "roles", "heartbeat", "commands", "items", "state_store", "signals", "alerts",
    "alert_sinks", "log_patterns",
}  # fmt: skip


def contract(r: Reader, doc: LineDict, services: set[str]) -> Contract:
    if doc.get("contract") is None:
        return Contract()
    item = r.mapping(doc["contract"], "contract", doc)
    r.only(item, SECTIONS, "contract")
    rows, writes = _state_store(r, item)
    return Contract(
        roles=_roles(r, item, services),
        heartbeat=_heartbeat(r, item),
        commands=_commands(r, item),
        items=tuple(_strings(r, item, "items", "contract")),
        state_rows=rows,
        state_writes=writes,
        signals=_signals(r, item),
        alerts=_alerts(r, item),
        sinks=_sinks(r, item),
        log_patterns=_patterns(r, item),
    )


def _section(r: Reader, item: LineDict, key: str, allowed: set[str]) -> LineDict | None:
    if item.get(key) is None:
        return None
    section = r.mapping(item[key], f"contract.{key}", item)
    r.only(section, allowed, f"contract.{key}")
    return section


def _strings(r: Reader, item: LineDict, key: str, context: str) -> list[str]:
    raw = r.get(item, key, list, default=[], context=context)
    if not all(isinstance(s, str) and s for s in raw) or len(set(raw)) != len(raw):
        raise r.fail(item, f"{context}.{key}", "must list distinct, non-empty names", "[a, b]")
    return list(raw)


def _roles(r: Reader, item: LineDict, services: set[str]) -> Roles:
    section = _section(r, item, "roles", {"coordinator", "workers", "victim", "survivor"})
    if section is None:
        return Roles()
    ctx = "contract.roles"
    workers = _strings(r, section, "workers", ctx)
    one = {
        k: r.get(section, k, str, default="", context=ctx)
        for k in ("coordinator", "victim", "survivor")
    }
    for key, names in (("workers", workers), *((k, [v] if v else []) for k, v in one.items())):
        unknown = [n for n in names if n not in services]
        if unknown:
            raise r.fail(section, f"{ctx}.{key}", f"no service is named {', '.join(unknown)}",
                         ", ".join(sorted(services)))  # fmt: skip
    for key in ("victim", "survivor"):
        if one[key] and one[key] not in workers:
            raise r.fail(section, f"{ctx}.{key}", f"{one[key]} is not one of the workers",
                         ", ".join(workers) or "list them in contract.roles.workers")  # fmt: skip
    if one["victim"] and one["victim"] == one["survivor"]:
        raise r.fail(section, f"{ctx}.survivor", "the survivor must differ from the victim",
                     "another worker")  # fmt: skip
    if one["coordinator"] and one["coordinator"] in workers:
        raise r.fail(section, f"{ctx}.coordinator", "the coordinator cannot also be a worker",
                     "a service that is not in workers")  # fmt: skip
    return Roles(one["coordinator"], tuple(workers), one["victim"], one["survivor"])


def _path(r: Reader, section: LineDict, key: str, ctx: str) -> str:
    value = r.get(section, key, str, default="", context=ctx)
    if value and not PATH.fullmatch(value):
        raise r.fail(
            section, f"{ctx}.{key}", f"{value!r} is not a dotted path", "e.g. metrics.db.ok"
        )
    return value


def _heartbeat(r: Reader, item: LineDict) -> HeartbeatDef:
    paths = {"worker", "items", "process", "status", "started", "sent"}
    section = _section(r, item, "heartbeat", paths | {"channel", "healthy", "degraded", "metrics"})
    if section is None:
        return HeartbeatDef()
    ctx = "contract.heartbeat"
    metrics: dict[str, str] = {}
    if section.get("metrics") is not None:
        raw = r.mapping(section["metrics"], f"{ctx}.metrics", section)
        r.only(raw, set(METRICS), f"{ctx}.metrics")
        metrics = {str(k): _path(r, raw, str(k), f"{ctx}.metrics") for k in raw}
    for key in ("worker", "items") if section.get("channel") else ():
        if not section.get(key):
            raise r.missing(section, f"{ctx}.{key}", "is required with a channel: where in "
                            "the payload it sits", "a dotted path")  # fmt: skip
    return HeartbeatDef(
        channel=r.get(section, "channel", str, default="", context=ctx),
        healthy=tuple(_strings(r, section, "healthy", ctx)),
        degraded=tuple(_strings(r, section, "degraded", ctx)),
        metrics=metrics,
        **{key: _path(r, section, key, ctx) for key in paths},
    )


def _template(r: Reader, section: LineDict, key: str, ctx: str) -> dict[str, Any]:
    if section.get(key) is None:
        return {}
    raw = r.mapping(section[key], f"{ctx}.{key}", section)
    if not any(isinstance(v, str) and "{item}" in v for v in raw.values()):
        raise r.fail(section, f"{ctx}.{key}", "names no {item}",
                     'a JSON message, e.g. {type: add, id: "{item}"}')  # fmt: skip
    return dict(raw)


def _commands(r: Reader, item: LineDict) -> CommandsDef:
    section = _section(r, item, "commands", {"channel", "add_item", "remove_item"})
    if section is None:
        return CommandsDef()
    ctx = "contract.commands"
    channel = r.get(section, "channel", str, required=True, context=ctx)
    if "{worker}" not in channel:
        raise r.fail(
            section, f"{ctx}.channel", "names no {worker}", "e.g. worker:{worker}:commands"
        )
    return CommandsDef(
        channel, _template(r, section, "add_item", ctx), _template(r, section, "remove_item", ctx)
    )


def _state_store(r: Reader, item: LineDict) -> tuple[str, str]:
    section = _section(r, item, "state_store", {"rows", "writes"})
    if section is None:
        return "", ""
    writes = r.get(section, "writes", str, default="", context="contract.state_store")
    try:
        re.compile(writes)
    except re.error as exc:
        raise r.fail(
            section, "contract.state_store.writes", f"is not a valid regex: {exc}"
        ) from None
    query = r.get(section, "rows", str, default="", context="contract.state_store")
    if not query:
        return "", writes
    if "%(since)s" not in query or "%(until)s" not in query:
        raise r.fail(section, "contract.state_store.rows", "must use %(since)s and %(until)s",
                     "SELECT item, worker, extract(epoch FROM t) FROM … WHERE t BETWEEN "
                     "%(since)s AND %(until)s")  # fmt: skip
    return query, writes


def _signals(r: Reader, item: LineDict) -> SignalsDef:
    keys = {"stream", "worker_field", "process_field", "seq_field", "consumer_mark", "sent_metric"}
    section = _section(r, item, "signals", keys)
    if section is None:
        return SignalsDef()
    ctx = "contract.signals"
    text = {k: r.get(section, k, str, required=k != "process_field", context=ctx)
            for k in keys - {"sent_metric"}}  # fmt: skip
    if "{worker}" not in text["consumer_mark"]:
        raise r.fail(section, f"{ctx}.consumer_mark", "names no {worker}", "e.g. seen:{worker}")
    sent = r.get(section, "sent_metric", str, default="signals_sent", choices=METRICS, context=ctx)
    return SignalsDef(**{k: v or "" for k, v in text.items()}, sent_metric=sent)


def _alerts(r: Reader, item: LineDict) -> dict[str, AlertDef]:
    section = _section(r, item, "alerts", set(ALERTS))
    out = {}
    for key in section or {}:
        ctx = f"contract.alerts.{key}"
        raw = section[key]
        if isinstance(raw, str):  # one name for every sink
            out[str(key)] = AlertDef(raw, raw)
            continue
        raw = r.mapping(raw, ctx, section)
        r.only(raw, {"webhook", "file"}, ctx)
        out[str(key)] = AlertDef(
            r.get(raw, "webhook", str, default="", context=ctx),
            r.get(raw, "file", str, default="", context=ctx),
        )
    return out


def _sinks(r: Reader, item: LineDict) -> AlertSinks:
    section = _section(r, item, "alert_sinks", {"webhook", "file"})
    if section is None:
        return AlertSinks()
    ctx = "contract.alert_sinks"
    field = ""
    if section.get("webhook") is not None:
        hook = r.mapping(section["webhook"], f"{ctx}.webhook", section)
        r.only(hook, {"field"}, f"{ctx}.webhook")
        field = r.get(hook, "field", str, required=True, context=f"{ctx}.webhook")
    fmt, match, key = "", "{name}", ""
    if section.get("file") is not None:
        raw = r.mapping(section["file"], f"{ctx}.file", section)
        r.only(raw, {"format", "match", "field"}, f"{ctx}.file")
        fmt = r.get(raw, "format", str, required=True, choices=FILE_FORMATS, context=f"{ctx}.file")
        match = r.get(raw, "match", str, default="{name}", context=f"{ctx}.file")
        key = r.get(raw, "field", str, required=fmt == "jsonl", default="", context=f"{ctx}.file")
        if fmt == "text" and "{name}" not in match:
            raise r.fail(raw, f"{ctx}.file.match", "names no {name}", 'e.g. " | {name} | "')
    return AlertSinks(field, fmt, match, key)


def _patterns(r: Reader, item: LineDict) -> dict[str, str]:
    patterns = r.scalars(item, "log_patterns", "contract")
    raw = item.get("log_patterns")
    for key, pattern in patterns.items():
        label = f"contract.log_patterns.{key}"
        if key not in LOG_PATTERNS:
            raise r.fail(raw, label, "is not a pattern any scenario reads",
                         ", ".join(LOG_PATTERNS))  # fmt: skip
        try:
            groups = set(re.compile(pattern).groupindex)
        except re.error as exc:
            raise r.fail(raw, label, f"is not a valid regex: {exc}") from None
        stray = groups - set(LOG_PATTERNS[key])
        if stray:
            accepted = ", ".join(f"(?P<{g}>…)" for g in LOG_PATTERNS[key]) or "no named groups"
            raise r.fail(raw, label, f"has named group(s) {', '.join(sorted(stray))} that no "
                         "check reads", accepted)  # fmt: skip
    return patterns
