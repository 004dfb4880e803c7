"""Reading a profile file: ``extends`` chains, and validation of every key at the file and
line it was written."""

from __future__ import annotations

import dataclasses
import re
import string
from importlib import resources
from pathlib import Path

from chaoslib.profiles.contract_file import contract
from chaoslib.profiles.profile import (
    STACK_SERVICES,
    ComposeDef,
    LinkDef,
    Profile,
    ServiceDef,
    Timing,
)
from chaoslib.profiles.services import base_dir as _base_dir
from chaoslib.profiles.services import parse_services
from chaoslib.profiles.timings import check_rules, settings_env, timings
from chaoslib.yaml_lines import FileError, LineDict, Reader, load, merge

# A profile states these whole (its own services and project); the rest merges key by key.
REPLACE = ("services", "links", "compose")
MAX_EXTENDS = 20  # a chain longer than this is a mistake (and each level recurses)


def builtin_profiles() -> list[str]:
    return sorted(
        p.name.removesuffix(".yml")
        for p in resources.files("chaoslib.profiles").iterdir()
        if p.name.endswith(".yml")
    )


def resolve(path: Path, chain: tuple[Path, ...] = ()) -> LineDict:
    """The file merged on top of everything it extends, level by level, any depth."""
    doc = load(path)
    if not isinstance(doc, LineDict):
        raise FileError(path, 1, "", "a profile must be a YAML mapping")
    r = Reader(path)
    name = r.get(doc, "extends", str)
    if name is None:
        return doc
    base = _base_path(r, doc, name, path)
    here = (*chain, path.resolve())
    if len(here) >= MAX_EXTENDS:
        raise r.fail(
            doc, "extends", f"the extends chain is more than {MAX_EXTENDS} files long",
            f"at most {MAX_EXTENDS} profiles in one chain",
        )  # fmt: skip
    if base.resolve() in here:
        cycle = " extends ".join(str(p) for p in (*here, base.resolve()))
        raise r.fail(
            doc,
            "extends",
            f"profiles extend each other in a cycle: {cycle}",
            "a chain that ends at a profile without extends",
        )
    merged = merge(resolve(base, here), doc, replace=REPLACE)
    return _own_roles(merged, doc)


def _own_roles(merged: LineDict, child: LineDict) -> LineDict:
    """Roles name services. A profile that states services of its own keeps the roles it
    inherits only while every service they name is still one of them; otherwise it has
    none until it states its own (they would name services it no longer has)."""
    own = child.get("contract")
    contract = merged.get("contract")
    if "services" not in child or (isinstance(own, LineDict) and "roles" in own):
        return merged
    roles = contract.get("roles") if isinstance(contract, LineDict) else None
    services = child.get("services")
    if not isinstance(roles, LineDict) or not isinstance(services, LineDict):
        return merged
    named = [roles.get(k) for k in ("coordinator", "victim", "survivor")]
    named += list(roles.get("workers") or [])
    if all(n in services for n in named if isinstance(n, str) and n):
        return merged
    trimmed = merge(LineDict(), contract)
    trimmed.pop("roles", None)
    merged["contract"] = trimmed
    return merged


def _base_path(r: Reader, doc: LineDict, name: str, path: Path) -> Path:
    """``extends: local`` is a built-in profile; ``extends: ../base.yml`` a file,
    relative to the extending file's directory."""
    accepted = f"{', '.join(builtin_profiles())}, or a path to a .yml file (relative to this file)"
    if "/" not in name and not name.endswith((".yml", ".yaml")):
        if name not in builtin_profiles():
            raise r.fail(doc, "extends", f"no built-in profile {name!r}", accepted)
        return Path(str(resources.files("chaoslib.profiles") / f"{name}.yml"))
    base = path.parent / Path(name).expanduser()
    if not base.is_file():
        raise r.fail(doc, "extends", f"no profile file {str(base)!r}", accepted)
    return base


# The keys a profile may have at its top level.
TOP_KEYS = frozenset({
    "extends", "name", "description", "protected", "fragile", "compose", "services", "links",
    "contract", "timings", "timing_rules", "settings_env",
})  # fmt: skip


def parse_profile(path: str | Path) -> Profile:
    r = Reader(path)
    doc = resolve(Path(path))
    check_keys(r, doc)
    services = _services(r, doc)
    links = parse_links(r, doc, services)
    sets = timings(r, doc)
    check_rules(r, doc, sets)
    name, description, protected = parse_head(r, doc)
    mapped = settings_env(r, doc, "", sets)
    services = service_settings_env(r, doc, services, sets)
    check_service_env(r, doc, mapped, services)
    return Profile(
        name=name,
        description=description,
        protected=protected,
        services=services,
        links=links,
        contract=contract(r, doc, set(services)),
        timings=sets,
        fragile=parse_fragile(r, doc),
        compose=parse_compose(r, doc, services),
        path=str(path),
        settings_env=mapped,
    )


def service_settings_env(
    r: Reader, doc: LineDict, services: dict[str, ServiceDef], sets: dict[str, Timing]
) -> dict[str, ServiceDef]:
    """Each service's own ``settings_env``: its env var names for the settings, where they
    differ from the profile's."""
    out = dict(services)
    for name, item in (doc.get("services") or {}).items():
        if isinstance(item, LineDict) and item.get("settings_env") is not None:
            own = settings_env(r, item, f"services.{name}.", sets)
            out[str(name)] = dataclasses.replace(services[str(name)], settings_env=own)
    return out


def check_service_env(
    r: Reader,
    doc: LineDict,
    mapped: dict[str, tuple[str, str]],
    services: dict[str, ServiceDef] | None = None,
) -> None:
    """A service may not set an env var that carries a setting: it would run with its own
    value while the rules and the checks judge the timing's."""
    for name, item in (doc.get("services") or {}).items():
        own = item.get("env") if isinstance(item, LineDict) else None
        carried = {**mapped, **(services[name].settings_env if services else {})}
        for key in own or {}:
            if key in carried:
                setting = carried[key][0]
                raise r.fail(own, f"services.{name}.env.{key}",
                             f"sets {key}, which carries the setting {setting} (settings_env)",
                             f"change timings.*.settings.{setting} instead")  # fmt: skip


# Each part below reads one section on its own, so a check can report each part's error
# (chaoslib.scenarios.profile_check), while parse_profile stops at the first.
def check_keys(r: Reader, doc: LineDict) -> None:
    r.only(doc, set(TOP_KEYS), "the profile")


def parse_head(r: Reader, doc: LineDict) -> tuple[str, str, bool]:
    """The profile's name, description and ``protected`` switch."""
    return (
        r.get(doc, "name", str, required=True),
        r.get(doc, "description", str, default=""),
        r.get(doc, "protected", bool, default=False),
    )


def parse_fragile(r: Reader, doc: LineDict) -> tuple[str, ...]:
    return tuple(_names(r, doc, "fragile"))


def parse_links(r: Reader, doc: LineDict, services: dict[str, ServiceDef]) -> dict[str, LinkDef]:
    """The links, and each service's ``redis``/``database`` link checked against them."""
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
    return links


def _names(r: Reader, doc: LineDict, key: str) -> list[str]:
    raw = r.get(doc, key, list, default=[])
    for item in raw:
        if not isinstance(item, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", item):
            raise r.fail(doc, key, f"{item!r} is not a flag name", "lower-case-words-with-dashes")
    return [str(item) for item in raw]


def _services(r: Reader, doc: LineDict) -> dict[str, ServiceDef]:
    return parse_services(r, doc)


def parse_compose(r: Reader, doc: LineDict, services: dict[str, ServiceDef]) -> ComposeDef | None:
    docker = [s.name for s in services.values() if s.backend == "docker"]
    if "compose" not in doc:
        if docker:
            raise r.missing(doc, "compose", f"is required: {', '.join(docker)} use backend docker")
        return None
    item = r.mapping(doc["compose"], "compose", doc)
    keys = {
        "files", "project", "proxy_config", "redis", "postgres", "toxiproxy", "database_url",
        "alert_file", "alert_file_name",
    }  # fmt: skip
    r.only(item, keys | {"env", "webhook_port", "reset_keys", "disposable"}, "compose")
    files = r.get(item, "files", list, required=True, context="compose")
    if not files or not all(isinstance(f, str) for f in files):
        raise r.fail(item, "compose.files", "must list the compose files", "a list of paths")
    text = {
        k: r.get(item, k, str, context="compose")
        for k in keys - {"files"}
        if item.get(k) is not None
    }
    name = text.get("alert_file_name", "")
    if name and ("/" in name or name in (".", "..")):
        raise r.fail(item, "compose.alert_file_name", f"{name!r} is not a file name",
                     "the name of the file your services write in ${CHAOS_ALERT_DIR}")  # fmt: skip
    for required in ("project", "proxy_config"):
        if required not in text:
            raise r.missing(item, f"compose.{required}", "is required")
    port = r.get(item, "webhook_port", int, default=0, context="compose")
    if isinstance(port, bool) or not (port == 0 or 1024 <= port <= 65535):
        raise r.fail(item, "compose.webhook_port", f"{port!r} is not a port chaoslib can "
                     "listen on", "1024 to 65535")  # fmt: skip
    reset_keys = r.get(item, "reset_keys", list, default=[], context="compose")
    # A literal prefix first: '**', '?*' or '[a-z]*' would match every key of the user's.
    if not all(isinstance(k, str) and re.match(r"[^*?\[\]\\\s]+", k) for k in reset_keys):
        raise r.fail(
            item, "compose.reset_keys", "must list Redis key patterns of the system's own, "
            "disposable keys, each starting with a literal prefix",
            "glob patterns such as 'signals:*'",
        )  # fmt: skip
    url = text.get("database_url")
    if url is not None:
        fields = {f for _, f, _, _ in string.Formatter().parse(url) if f is not None}
        if fields - {"host", "port"} or "{host}" not in url or "{port}" not in url:
            raise r.fail(item, "compose.database_url", f"{url!r} must contain {{host}} and "
                         "{port} and no other {field}", "e.g. postgresql://user:pw@{host}:{port}/db")  # fmt: skip
    return ComposeDef(
        files=tuple(files),
        env=r.scalars(item, "env", "compose"),
        base_dir=_base_dir(item.path),
        webhook_port=port,
        reset_keys=tuple(reset_keys),
        disposable=r.get(item, "disposable", bool, default=False, context="compose"),
        **text,
    )


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
