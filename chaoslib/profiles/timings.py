"""A profile's timing sets (``fast``, ``seed``), how their settings reach each service
(``settings_env``), and the relations between a scenario's waits and those settings
(``timing_rules``).

``settings`` are the guide's own quantities in its units (seconds, counts, a fraction):
the checks read them by name. A system reads them under names of its own, in units of
its own: ``settings_env`` maps each env var to a setting and a unit, so chaoslib never
names a system's env vars, and a system that reads milliseconds gets milliseconds.
"""

from __future__ import annotations

from chaoslib.profiles.profile import NUMBER, TIMINGS, UNITS, Timing
from chaoslib.yaml_lines import FileError, LineDict, Reader

# The settings a scenario reads (docs/profile.md says which check needs each), with their unit.
SETTINGS: dict[str, str] = {
    "heartbeat_interval": "s",
    "worker_timeout": "s",
    "monitor_interval": "s",
    "db_health_interval": "s",
    "db_alert_threshold": "count",
    "db_write_timeout": "s",
    "reconnect_base_delay": "s",
    "reconnect_max_delay": "s",
    "reconnect_jitter": "fraction",
    "reconnect_max_failures": "count",
    "alert_rate_limit": "s",
    "zombie_grace": "s",
    "resync_debounce": "s",
    "startup_grace": "s",
    "item_poll_interval": "s",
    "item_count": "count",
}
# How a setting is written into an env var: the factor applied to the guide's value.
RELATIONS = {"shorter_than": "shorter than", "longer_than": "longer than"}


def timings(r: Reader, doc: LineDict) -> dict[str, Timing]:
    raw = r.mapping(doc.get("timings"), "timings", doc) if "timings" in doc else None
    if raw is None:
        raise r.missing(doc, "timings", "is required, with fast and seed")
    r.only(raw, set(TIMINGS), "timings")
    out: dict[str, Timing] = {}
    for name in TIMINGS:
        if name not in raw:
            raise r.missing(raw, f"timings.{name}", "is required", "both fast and seed")
        item = r.mapping(raw[name], f"timings.{name}", raw)
        ctx = f"timings.{name}"
        r.only(item, {"env", "settings", "waits", "limits"}, ctx)
        numbers: dict[str, dict[str, float]] = {}
        for section in ("settings", "waits", "limits"):
            raw_section = r.get(item, section, dict, default={}, context=ctx)
            if section == "settings":
                r.only(raw_section, set(SETTINGS), f"{ctx}.settings")
            numbers[section] = {
                str(key): float(
                    r.get(raw_section, key, NUMBER, minimum=0, context=f"{ctx}.{section}", required=True,
                          maximum=1 if SETTINGS.get(key) == "fraction" and section == "settings"
                          else None)
                )
                for key in raw_section
            }  # fmt: skip
            for key, value in numbers["settings"].items() if section == "settings" else ():
                if SETTINGS[key] == "count" and value != int(value):
                    raise r.fail(raw_section, f"{ctx}.settings.{key}",
                                 f"is a count, got {value:g}", "a whole number")  # fmt: skip
        out[name] = Timing(
            r.scalars(item, "env", ctx),
            numbers["waits"],
            numbers["limits"],
            numbers["settings"],
        )
    _same_keys(r, raw, out)
    return out


def _same_keys(r: Reader, raw: LineDict, out: dict[str, Timing]) -> None:
    fast, seed = out["fast"], out["seed"]
    for kind in ("env", "settings", "waits", "limits"):
        a, b = set(getattr(fast, kind)), set(getattr(seed, kind))
        if a != b:
            lone = sorted(a ^ b)
            # At the first lone key, in the file of the chain that wrote it.
            section = raw["fast" if lone[0] in a else "seed"][kind]
            raise FileError(
                section.file_of(lone[0]) or r.path,
                section.line_of(lone[0]),
                f"timings.*.{kind}",
                f"fast and seed must set the same keys; only one sets {', '.join(lone)}",
            )


def settings_env(
    r: Reader, item: LineDict, context: str, sets: dict[str, Timing]
) -> dict[str, tuple[str, str]]:
    """``ENV: setting`` or ``ENV: {setting: name, unit: ms}``: env var -> (setting, unit)."""
    if item.get("settings_env") is None:
        return {}
    raw = r.mapping(item["settings_env"], f"{context}settings_env", item)
    out: dict[str, tuple[str, str]] = {}
    for env, spec in raw.items():
        ctx = f"{context}settings_env.{env}"
        if isinstance(spec, str):
            setting, unit, where = spec, "s", raw
        else:
            where = r.mapping(spec, ctx, raw)
            r.only(where, {"setting", "unit"}, ctx)
            setting = r.get(where, "setting", str, required=True, context=ctx)
            unit = r.get(where, "unit", str, default="s", choices=tuple(UNITS), context=ctx)
        if setting not in sets["fast"].settings:
            known = ", ".join(sorted(sets["fast"].settings)) or "none: add timings.*.settings"
            raise r.fail(where, ctx if where is raw else f"{ctx}.setting",
                         f"no setting {setting!r} in timings.*.settings", known)  # fmt: skip
        out[str(env)] = (setting, "as_is" if SETTINGS[setting] in ("count",) else unit)
    return out


def check_rules(r: Reader, doc: LineDict, sets: dict[str, Timing]) -> None:
    """Every rule against both timing sets: a wait shorter or longer than a setting."""
    if doc.get("timing_rules") is None:
        return
    rules = r.mapping(doc["timing_rules"], "timing_rules", doc)
    for name, item in rules.items():
        ctx = f"timing_rules.{name}"
        item = r.mapping(item, ctx, rules)
        r.only(item, {"wait", "why", *RELATIONS}, ctx)
        given = [k for k in RELATIONS if k in item]
        if len(given) != 1:
            raise r.fail(
                rules, ctx, f"sets {len(given)} relations", f"exactly one of {', '.join(RELATIONS)}"
            )
        relation = given[0]
        wait = r.get(item, "wait", str, required=True, context=ctx)
        setting = r.get(item, relation, str, required=True, context=ctx)
        why = r.get(item, "why", str, required=True, context=ctx)
        # fast and seed set the same keys (checked above), so fast answers for both.
        if wait not in sets["fast"].waits:
            known = ", ".join(sorted(sets["fast"].waits))
            raise r.fail(item, f"{ctx}.wait", f"no wait {wait!r} in timings.*.waits", known)
        if setting not in sets["fast"].settings:
            known = ", ".join(sorted(sets["fast"].settings))
            raise r.fail(
                item, f"{ctx}.{relation}", f"no setting {setting!r} in timings.*.settings", known
            )
        for set_name in TIMINGS:
            value, bound = sets[set_name].waits[wait], sets[set_name].settings[setting]
            if value < bound if relation == "shorter_than" else value > bound:
                continue
            section = doc["timings"][set_name]
            at = section["settings"]
            written = f"{at.file_of(setting) or r.path}:{at.line_of(setting)}"
            phrase = RELATIONS[relation]
            raise r.fail(
                section["waits"],
                f"timings.{set_name}.waits.{wait}",
                f"{value:g} s is not {phrase} timings.{set_name}.settings.{setting} = {bound:g} s "
                f"(written at {written}); rule {name}: {why}",
                f"a wait {phrase} {bound:g} s",
            )
