"""The ``checks:`` entries of an experiment file, turned into functions of the run."""

from __future__ import annotations

from typing import Any

from chaoslib.experiment import checks
from chaoslib.experiment.file_bounds import duration, regex_error
from chaoslib.experiment.runner import RunContext
from chaoslib.observe.workloads import WorkloadResult
from chaoslib.yaml_lines import LineDict, Reader

CHECKS = ("recovered_within", "no_loss", "log_seen", "eventually_ok", "never_failed")


def build_check(r: Reader, item: LineDict, i: int, observers: set[str], faults: set[str]) -> Any:
    ctx = f"checks[{i}]"
    kind = r.get(item, "type", str, required=True, choices=CHECKS, context=ctx)
    allowed = {"type", "name", "observer", "fault", "seconds", "workload", "pattern", "within"}
    r.only(item, allowed, ctx)
    label = r.get(item, "name", str, context=ctx)
    fault = r.get(item, "fault", str, context=ctx)
    if fault is not None and fault not in faults:
        raise r.fail(
            item, f"{ctx}.fault", f"no fault is named {fault!r}", ", ".join(sorted(faults))
        )

    def source(key: str) -> str:
        value = r.get(item, key, str, required=True, context=ctx)
        if value not in observers:
            raise r.fail(
                item,
                f"{ctx}.{key}",
                f"no observer is named {value!r}",
                ", ".join(sorted(observers)),
            )
        return value

    def heal_time(run: RunContext) -> float:
        return (run.healed_at(fault) if fault else run.last_heal) or 0.0

    def fault_time(run: RunContext) -> float | None:
        return run.applied_at(fault) if fault else min((f.t for f in run.faults), default=None)

    if kind == "recovered_within":
        obs = source("observer")
        seconds = duration(r, item, "seconds", required=True, context=ctx)
        return lambda run: checks.recovered_within(
            run.history,
            obs,
            seconds,
            healed_at=heal_time(run),
            fault_at=fault_time(run),
            name=label,
        )
    if kind == "no_loss":
        workload = source("workload")
        return lambda run: checks.no_loss(
            WorkloadResult.from_history(run.history, workload), name=label
        )
    if kind == "log_seen":
        pattern = r.get(item, "pattern", str, required=True, context=ctx)
        regex_error(r, item, f"{ctx}.pattern", pattern)  # compiled by the check, after the run
        within = duration(r, item, "within", required=True, context=ctx)
        return lambda run: checks.log_seen(
            run.history, pattern, within, after=fault_time(run), name=label, origin=run.started
        )
    obs = source("observer")
    if kind == "eventually_ok":
        within = duration(r, item, "within", required=True, context=ctx)
        return lambda run: checks.eventually(
            run.history,
            lambda e: e.source == obs and e.ok is True,
            within,
            after=heal_time(run),
            name=label or f"{obs} answers again",
            origin=run.started,
        )
    return lambda run: checks.never(
        run.history,
        lambda e: e.source == obs and e.ok is False,
        (run.started, (fault_time(run) or run.last_heal)),
        name=label or f"{obs} never failed before the faults",
    )
