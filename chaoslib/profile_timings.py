"""A profile's timing sets (``fast``, ``seed``) and the relations it declares between
a scenario's waits and the system's own settings (``timing_rules``).

The rules are the profile's facts: which env var of the system a wait must stay below
or above is data, so chaoslib never names a system's settings. They are checked on the
whole ``extends`` chain, after the merge, so a child that changes one wait is judged
against the timeouts it inherits.
"""

from __future__ import annotations

from typing import Any

from chaoslib.profile import NUMBER, TIMINGS, Timing
from chaoslib.yaml_lines import FileError, LineDict, Reader

# Each relation: how the wait must compare with the env var's value.
RELATIONS = {"shorter_than_env": "shorter than", "longer_than_env": "longer than"}
UNITS = {"s": 1.0, "ms": 0.001}  # the env var's unit; waits are in seconds
RULE_KEYS = {"wait", "unit", "why", *RELATIONS}


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
        out[name] = Timing(r.scalars(item, "env", ctx), numbers["waits"], numbers["limits"])
    _same_keys(r, raw, out)
    return out


def _same_keys(r: Reader, raw: LineDict, out: dict[str, Timing]) -> None:
    fast, seed = out["fast"], out["seed"]
    for kind in ("env", "waits", "limits"):
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


def check_rules(r: Reader, doc: LineDict, sets: dict[str, Timing]) -> None:
    """Every rule against every timing set, and against a service's own env where it
    overrides the timing's (a service's env wins when it starts)."""
    if doc.get("timing_rules") is None:
        return
    rules = r.mapping(doc["timing_rules"], "timing_rules", doc)
    for name, item in rules.items():
        ctx = f"timing_rules.{name}"
        item = r.mapping(item, ctx, rules)
        r.only(item, RULE_KEYS, ctx)
        given = [k for k in RELATIONS if k in item]
        if len(given) != 1:
            raise r.fail(
                rules,
                ctx,
                f"sets {len(given)} relations",
                f"exactly one of {', '.join(RELATIONS)}",
            )
        relation = given[0]
        wait = r.get(item, "wait", str, required=True, context=ctx)
        env = r.get(item, relation, str, required=True, context=ctx)
        unit = r.get(item, "unit", str, default="s", choices=tuple(UNITS), context=ctx)
        why = r.get(item, "why", str, required=True, context=ctx)
        # fast and seed set the same keys (checked above), so fast answers for both.
        if wait not in sets["fast"].waits:
            known = ", ".join(sorted(sets["fast"].waits))
            raise r.fail(item, f"{ctx}.wait", f"no wait {wait!r} in timings.*.waits", known)
        if env not in sets["fast"].env:
            known = ", ".join(sorted(sets["fast"].env))
            raise r.fail(item, f"{ctx}.{relation}", f"no env {env!r} in timings.*.env", known)
        for set_name in TIMINGS:
            section = doc["timings"][set_name]
            for label, where in _env_sources(doc, set_name, env):
                _judge(
                    r,
                    section["waits"],
                    f"timings.{set_name}.waits.{wait}",
                    where,
                    label,
                    (relation, UNITS[unit], unit),
                    f"rule {name}: {why}",
                )


def _env_sources(doc: LineDict, set_name: str, env: str) -> list[tuple[str, LineDict]]:
    """The timing set's env var, and each service's own setting of it."""
    out = [(f"timings.{set_name}.env.{env}", doc["timings"][set_name]["env"])]
    services = doc.get("services")
    for svc, item in (services or {}).items():
        own = item.get("env") if isinstance(item, LineDict) else None
        if isinstance(own, LineDict) and env in own:
            out.append((f"services.{svc}.env.{env}", own))
    return out


def _judge(
    r: Reader,
    waits: LineDict,
    wait_label: str,
    env_at: LineDict,
    env_label: str,
    how: tuple[str, float, str],
    reason: str,
) -> None:
    relation, scale, unit = how
    key = env_label.split(".")[-1]
    text: Any = env_at[key]
    try:
        bound = float(text) * scale
    except (TypeError, ValueError):
        raise r.fail(
            env_at, env_label, f"must be a number of {unit} for {reason}, got {text!r}"
        ) from None
    value = float(waits[wait_label.split(".")[-1]])
    ok = value < bound if relation == "shorter_than_env" else value > bound
    if ok:
        return
    phrase = RELATIONS[relation]
    written = f"{env_at.file_of(key) or r.path}:{env_at.line_of(key)}"
    raise r.fail(
        waits,
        wait_label,
        f"{value:g} s is not {phrase} {env_label} = {bound:g} s (written at {written}); {reason}",
        f"a wait {phrase} {bound:g} s",
    )
