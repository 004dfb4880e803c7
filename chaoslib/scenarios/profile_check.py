"""``chaos.suite --check``: a profile validated part by part, and a static plan of the run.

:func:`parse_profile` stops at the first error. Here each independent part of the same
parse (the parser's own functions) runs on its own, so one pass reports an error per
part, each at its file and line. A part that depends on another (the links on the
services, the timing rules on the timings) is read only once that one parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from chaoslib import scenarios
from chaoslib.errors import ConfigError
from chaoslib.profiles import Profile, ServiceDef, builtin_profiles
from chaoslib.profiles.contract_file import SECTIONS, contract
from chaoslib.profiles.file import (
    check_keys,
    parse_compose,
    parse_fragile,
    parse_head,
    parse_links,
    parse_profile,
    resolve,
)
from chaoslib.profiles.services import parse_services
from chaoslib.profiles.timings import check_rules, settings_env, timings
from chaoslib.scenarios.base import ScenarioSpec
from chaoslib.scenarios.plan_system import PlanSystem, ScenarioPlan, dead_port, plan_scenario
from chaoslib.yaml_lines import LineDict, Reader

ONE_PER_PART = (
    "at most one error is reported per part (each section of the file); fix these and run "
    "--check again: later errors in the same section are not reported yet"
)


@dataclass(frozen=True)
class Problem:
    part: str  # which part of the profile: services, links, contract.roles, timings, …
    message: str  # file:line: key: what is wrong (accepted: …)


@dataclass
class Validation:
    path: str
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # parts not read: what they need failed
    profile: Profile | None = None

    @property
    def valid(self) -> bool:
        return not self.problems and self.profile is not None


def profile_path(name_or_path: str | Path) -> Path:
    """Where ``--profile`` points: a built-in name, or a file (as load_profile reads it)."""
    path = Path(name_or_path)
    if path.suffix:
        return path
    candidate = resources.files("chaoslib.profiles") / f"{name_or_path}.yml"
    if not candidate.is_file():
        raise ConfigError(
            f"no profile named {name_or_path!r}; built in: {', '.join(builtin_profiles())}, "
            "or give a path to a .yml file"
        )
    return Path(str(candidate))


class _Parts:
    """Runs each part, keeping its error; returns None for a part that failed."""

    def __init__(self, found: Validation) -> None:
        self.found = found

    def run(self, part: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except ConfigError as exc:
            self.found.problems.append(Problem(part, str(exc)))
        except Exception as exc:  # a parser bug must not hide the other parts' errors
            message = f"{self.found.path}: reading {part} failed: {type(exc).__name__}: {exc}"
            self.found.problems.append(Problem(part, message))
        return None


def _alone(item: LineDict, key: str) -> LineDict:
    """``item`` with only ``key``, keeping the lines and files every key was written at."""
    out = LineDict({key: item[key]})
    out.line, out.path = item.line, item.path
    out.key_lines = dict(item.key_lines)
    out.key_files = dict(item.key_files)
    return out


def _service_names(doc: LineDict, services: dict[str, ServiceDef] | None) -> set[str]:
    """The services' names, even when one of them is wrong: the roles must name them."""
    if services is not None:
        return set(services)
    raw = doc.get("services")
    return {str(k) for k in raw} if isinstance(raw, dict) else set()


def _contract(parts: _Parts, r: Reader, doc: LineDict, names: set[str]) -> None:
    if doc.get("contract") is None:
        return
    item = parts.run("contract", lambda: r.mapping(doc["contract"], "contract", doc))
    if item is None:
        return
    parts.run("contract", lambda: r.only(item, SECTIONS, "contract"))
    for key in item:
        if key in SECTIONS:
            alone = LineDict({"contract": _alone(item, key)})
            alone.line, alone.path = doc.line, doc.path
            alone.key_lines, alone.key_files = doc.key_lines, doc.key_files
            parts.run(f"contract.{key}", lambda alone=alone: contract(r, alone, names))


def validate(name_or_path: str | Path) -> Validation:
    """Every part of the profile read on its own; the profile itself if all of them parse."""
    try:
        path = profile_path(name_or_path)
    except ConfigError as exc:
        return Validation(str(name_or_path), [Problem("profile", str(exc))])
    found = Validation(str(path))
    parts = _Parts(found)
    r = Reader(path)
    doc = parts.run("the file", lambda: resolve(path))
    if doc is None:  # nothing else can be read: not YAML, or a broken extends chain
        return found
    parts.run("top-level keys", lambda: check_keys(r, doc))
    parts.run("name, description, protected", lambda: parse_head(r, doc))
    parts.run("fragile", lambda: parse_fragile(r, doc))
    services = parts.run("services", lambda: parse_services(r, doc))
    if services is not None:
        parts.run("links", lambda: parse_links(r, doc, services))
    else:
        found.skipped.append("links (they name the services)")
    _contract(parts, r, doc, _service_names(doc, services))
    sets = parts.run("timings", lambda: timings(r, doc))
    if sets is not None:
        parts.run("timing_rules", lambda: check_rules(r, doc, sets))
        parts.run("settings_env", lambda: settings_env(r, doc, "", sets))
    else:
        found.skipped.append("timing_rules and settings_env (they name the timings)")
    parts.run("compose", lambda: parse_compose(r, doc, services or {}))
    if not found.problems:  # the one parser, whole, so a valid profile is exactly what runs
        found.profile = parts.run("the profile", lambda: parse_profile(path))
    return found


@dataclass(frozen=True)
class Plan:
    profile: Profile
    timing: str
    scenarios: tuple[ScenarioPlan, ...]
    launch_problems: tuple[str, ...] = ()

    @property
    def unknown(self) -> int:
        return sum(len(s.unknown) for s in self.scenarios)

    @property
    def errors(self) -> list[str]:
        """What would stop the run: a scenario that cannot be built, a service that
        cannot be launched."""
        built = [f"{s.name}: {s.error}" for s in self.scenarios if s.error]
        return [*built, *self.launch_problems]


def quiet_period() -> ScenarioSpec:
    """The suite's first experiment (no false positives), planned like a scenario."""
    from chaoslib.scenarios.suite import STEADY, _quiet_period

    return ScenarioSpec(STEADY, 0, "Quiet period", "Nothing is wrong: no alert, no error line",
                        _quiet_period)  # fmt: skip


def plan(profile: Profile, timing: str, only: str | None, fragile: str = "") -> Plan:
    """What ``chaos.suite`` would run with these flags, built and judged with nothing up.

    Raises ConfigError for a bad flag (an unknown timing, scenario or fragile flag)."""
    profile.timing(timing)
    fragile = profile.check_fragile(fragile)
    specs = [quiet_period(), *scenarios.select(only)]
    with dead_port() as port:
        problems = PlanSystem(profile, timing, port, fragile).launch_problems()
    found = tuple(plan_scenario(spec, profile, timing, fragile) for spec in specs)
    return Plan(profile, timing, found, tuple(problems))


STATIC = (
    "This is a static plan: nothing was started. Each scenario was built against a target "
    "where nothing runs, and each check was run once on an empty history. 'unknown' names "
    "the fact the profile lacks; 'can run' means the check met no missing fact before it "
    "ran out of data. Whether it passes, only a real run can say."
)


def _numbers(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in values.items()) or "none"


def validation_lines(found: Validation) -> list[str]:
    if not found.problems:
        return [f"profile {found.path}: valid"]
    count = len(found.problems)
    lines = [f"profile {found.path}: {count} error{'s' if count > 1 else ''}"]
    lines += [f"  [{p.part}] {p.message}" for p in found.problems]
    if found.skipped:
        lines.append(f"  not checked yet: {'; '.join(found.skipped)}")
    return [*lines, f"  ({ONE_PER_PART})"]


def scenario_lines(found: ScenarioPlan) -> list[str]:
    head = f"{found.name}" + (f" (guide test {found.test})" if found.test else "")
    lines = [f"{head}: {found.title}"]
    if found.error:
        return [*lines, f"  cannot be built, a run would abort it: {found.error}"]
    if found.unplanned:
        return [*lines, "  not planned: building it reaches for a running system "
                f"({found.unplanned})"]  # fmt: skip
    lines += [f"  fault:    {fault}" for fault in found.faults] or ["  faults:   none"]
    lines.append("  services: " + (", ".join(found.services) or "none named"))
    lines.append("  links:    " + (", ".join(found.links) or "none"))
    for kind in ("waits", "limits", "settings"):
        lines.append(f"  {kind + ':':<9} " + _numbers(found.timings.get(kind, {})))
    width = max((len(c.key) for c in found.checks), default=0)
    for c in found.checks:
        if c.runnable:
            lines.append(f"    can run  {c.key:<{width}}  {c.name}")
        else:
            lines.append(f"    unknown  {c.key:<{width}}  {c.name}: {c.reason}")
    return lines


def plan_lines(found: Plan) -> list[str]:
    profile = found.profile
    lines = [f"static plan: profile {profile.name}, timing {found.timing}", STATIC, ""]
    if profile.protected:
        lines += ["note: the profile is marked protected: true; a real run needs --force", ""]
    for scenario in found.scenarios:
        lines += [*scenario_lines(scenario), ""]
    checks = sum(len(s.checks) for s in found.scenarios)
    unplanned = [s.name for s in found.scenarios if s.unplanned]
    lines.append(
        f"{len(found.scenarios)} experiments, {checks} checks: {checks - found.unknown} can run, "
        f"{found.unknown} will be unknown"
        + (" (a run with no failed check is then inconclusive, exit 3)" if found.unknown else "")
        + (f"; not planned: {', '.join(unplanned)}" if unplanned else "")
    )
    if found.errors:
        lines.append(f"{len(found.errors)} error(s) a run would stop at:")
        lines += [f"  {e}" for e in found.errors]
    return lines
