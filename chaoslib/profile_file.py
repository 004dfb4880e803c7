"""Reading a profile file: line-numbered validation of every key, and ``extends``."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from chaoslib.profile import (
    BACKENDS,
    NUMBER,
    STACK_SERVICES,
    TIMINGS,
    ComposeDef,
    Contract,
    LinkDef,
    Profile,
    ServiceDef,
    Timing,
    builtin_profiles,
)
from chaoslib.yaml_lines import FileError, LineDict, Reader, load


def _scalars(r: Reader, data: LineDict, key: str, ctx: str) -> dict[str, str]:
    raw = r.get(data, key, dict, default={}, context=ctx)
    for k, v in raw.items():
        if isinstance(v, (dict, list)) or v is None:
            raise r.fail(raw, f"{ctx}.{key}.{k}", "must be a single value", "a string or a number")
    return {str(k): str(v) for k, v in raw.items()}


def _with_base(r: Reader, doc: LineDict) -> LineDict:
    """``extends: local`` takes every top-level key this file does not set from that profile."""
    base_name = r.get(doc, "extends", str)
    if base_name is None:
        return doc
    if base_name not in builtin_profiles():
        raise r.fail(
            doc, "extends", f"no built-in profile {base_name!r}", ", ".join(builtin_profiles())
        )
    base = load(Path(str(resources.files("chaoslib.profiles") / f"{base_name}.yml")))
    return _merge(base, doc, replace=("services", "links", "compose"))


def _merge(base: LineDict, over: LineDict, replace: tuple[str, ...] = ()) -> LineDict:
    """``over`` on top of ``base``; mappings merge key by key (so one wait can change),
    except the ``replace`` keys, which a profile states whole (its own services)."""
    merged = LineDict(base)
    for key, value in over.items():
        old = base.get(key)
        both = isinstance(old, LineDict) and isinstance(value, LineDict) and key not in replace
        merged[key] = _merge(old, value) if both else value
    merged.line, merged.key_lines = over.line, {**base.key_lines, **over.key_lines}
    return merged


def parse_profile(path: str | Path) -> Profile:
    r = Reader(path)
    doc = load(path)
    if not isinstance(doc, LineDict):
        raise FileError(path, 1, "", "a profile must be a YAML mapping")
    doc = _with_base(r, doc)
    r.only(
        doc,
        {
            "extends",
            "name",
            "description",
            "protected",
            "fragile",
            "compose",
            "services",
            "links",
            "contract",
            "timings",
        },
        "the profile",
    )
    services = _services(r, doc)
    links = _links(r, doc, services)
    for svc in services.values():
        for key, stack_service in (("redis", "redis"), ("database", "postgres")):
            link = getattr(svc, key)
            if link is None:
                continue
            where = r.mapping(doc["services"][svc.name], f"services.{svc.name}", doc["services"])
            if link not in links:
                raise r.fail(
                    where,
                    f"services.{svc.name}.{key}",
                    f"no link is named {link!r}",
                    ", ".join(links),
                )
            if links[link].service != stack_service or links[link].client != svc.name:
                raise r.fail(
                    where,
                    f"services.{svc.name}.{key}",
                    f"link {link!r} must go from {svc.name} to {stack_service}",
                    f"a link with client: {svc.name}, service: {stack_service}",
                )
    return Profile(
        name=r.get(doc, "name", str, required=True),
        description=r.get(doc, "description", str, default=""),
        protected=r.get(doc, "protected", bool, default=False),
        services=services,
        links=links,
        contract=_contract(r, doc),
        timings=_timings(r, doc),
        fragile=tuple(_names(r, doc, "fragile")),
        compose=_compose(r, doc, services),
        path=str(path),
    )


def _names(r: Reader, doc: LineDict, key: str) -> list[str]:
    raw = r.get(doc, key, list, default=[])
    for item in raw:
        if not isinstance(item, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", item):
            raise r.fail(doc, key, f"{item!r} is not a flag name", "lower-case-words-with-dashes")
    return [str(item) for item in raw]


def _services(r: Reader, doc: LineDict) -> dict[str, ServiceDef]:
    raw = r.mapping(doc.get("services"), "services", doc) if "services" in doc else None
    if not raw:
        raise FileError(r.path, doc.line, "services", "is required: at least one service")
    out = {}
    for name, item in raw.items():
        ctx = f"services.{name}"
        item = r.mapping(item, ctx, raw)
        r.only(
            item,
            {"module", "backend", "container", "role", "env", "ready", "redis", "database"},
            ctx,
        )
        backend = r.get(item, "backend", str, default="process", choices=BACKENDS, context=ctx)
        out[str(name)] = ServiceDef(
            name=str(name),
            module=r.get(
                item, "module", str, required=backend == "process", default="", context=ctx
            ),
            backend=backend,
            role=r.get(
                item, "role", str, default="service", choices=("service", "shard"), context=ctx
            ),
            env=_scalars(r, item, "env", ctx),
            ready=r.get(item, "ready", str, context=ctx),
            container=r.get(item, "container", str, context=ctx),
            redis=r.get(item, "redis", str, context=ctx),
            database=r.get(item, "database", str, context=ctx),
        )
    return out


def _compose(r: Reader, doc: LineDict, services: dict[str, ServiceDef]) -> ComposeDef | None:
    docker = [s.name for s in services.values() if s.backend == "docker"]
    if "compose" not in doc:
        if docker:
            raise FileError(
                r.path, doc.line, "compose", f"is required: {', '.join(docker)} use backend docker"
            )
        return None
    item = r.mapping(doc["compose"], "compose", doc)
    keys = {"files", "project", "proxy_config", "redis", "postgres", "toxiproxy", "database_url"}
    r.only(item, keys | {"env"}, "compose")
    files = r.get(item, "files", list, required=True, context="compose")
    if not files or not all(isinstance(f, str) for f in files):
        raise r.fail(item, "compose.files", "must list the compose files", "a list of paths")
    text = {
        k: r.get(item, k, str, context="compose")
        for k in keys - {"files"}
        if item.get(k) is not None
    }
    for required in ("project", "proxy_config"):
        if required not in text:
            raise FileError(r.path, item.line, f"compose.{required}", "is required")
    return ComposeDef(files=tuple(files), env=_scalars(r, item, "env", "compose"), **text)


def _links(r: Reader, doc: LineDict, services: dict[str, ServiceDef]) -> dict[str, LinkDef]:
    raw = r.mapping(doc.get("links"), "links", doc) if "links" in doc else LineDict()
    out = {}
    for name, item in raw.items():
        ctx = f"links.{name}"
        item = r.mapping(item, ctx, raw)
        r.only(item, {"service", "client"}, ctx)
        client = r.get(item, "client", str, required=True, context=ctx)
        if client not in services:
            raise r.fail(
                item, f"{ctx}.client", f"no service is named {client!r}", ", ".join(services)
            )
        out[str(name)] = LinkDef(
            str(name),
            r.get(item, "service", str, required=True, choices=STACK_SERVICES, context=ctx),
            client,
        )
    return out


def _contract(r: Reader, doc: LineDict) -> Contract:
    item = r.mapping(doc.get("contract"), "contract", doc) if "contract" in doc else None
    if item is None:
        raise FileError(r.path, doc.line, "contract", "is required")
    r.only(
        item,
        {
            "heartbeat_channel",
            "command_channel",
            "signal_stream",
            "consumer_mark",
            "log_patterns",
            "alerts",
            "alert_file_keys",
        },
        "contract",
    )
    patterns = _scalars(r, item, "log_patterns", "contract")
    for key, pattern in patterns.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.fail(
                item, f"contract.log_patterns.{key}", f"is not a valid regex: {exc}"
            ) from None
    return Contract(
        heartbeat_channel=r.get(item, "heartbeat_channel", str, required=True, context="contract"),
        command_channel=r.get(item, "command_channel", str, required=True, context="contract"),
        log_patterns=patterns,
        alerts=_scalars(r, item, "alerts", "contract"),
        alert_file_keys=_scalars(r, item, "alert_file_keys", "contract"),
        signal_stream=r.get(item, "signal_stream", str, default="", context="contract"),
        consumer_mark=r.get(item, "consumer_mark", str, default="", context="contract"),
    )


def _timings(r: Reader, doc: LineDict) -> dict[str, Timing]:
    raw = r.mapping(doc.get("timings"), "timings", doc) if "timings" in doc else None
    if raw is None:
        raise FileError(r.path, doc.line, "timings", "is required, with fast and seed")
    r.only(raw, set(TIMINGS), "timings")
    out: dict[str, Timing] = {}
    for name in TIMINGS:
        if name not in raw:
            raise FileError(
                r.path, raw.line, f"timings.{name}", "is required", "both fast and seed"
            )
        item = r.mapping(raw[name], f"timings.{name}", raw)
        ctx = f"timings.{name}"
        r.only(item, {"env", "waits", "limits"}, ctx)
        numbers: dict[str, dict[str, float]] = {}
        for section in ("waits", "limits"):
            raw_section = r.get(item, section, dict, default={}, context=ctx)
            numbers[section] = {
                str(key): float(
                    r.get(raw_section, key, NUMBER, minimum=0, context=f"{ctx}.{section}")
                )
                for key in raw_section
            }
        out[name] = Timing(_scalars(r, item, "env", ctx), numbers["waits"], numbers["limits"])
    fast, seed = out["fast"], out["seed"]
    for kind in ("env", "waits", "limits"):
        a, b = set(getattr(fast, kind)), set(getattr(seed, kind))
        if a != b:
            missing = sorted(a ^ b)
            raise FileError(
                r.path,
                raw.line,
                f"timings.*.{kind}",
                f"fast and seed must set the same keys; only one sets {', '.join(missing)}",
            )
    return out
