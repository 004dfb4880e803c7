"""journal.json: the suite's outcome, each scenario's checks, and the checklist, as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaoslib import scenarios
from chaoslib.experiment.checks import UNKNOWN, Verdict
from chaoslib.experiment.files import iso_time, write_text
from chaoslib.experiment.journal import STATUSES, Journal, chaoslib_version
from chaoslib.scenarios.checklist import checklist, performance
from chaoslib.scenarios.suite import SuiteResult


def _check(v: Any) -> dict[str, Any]:
    return {
        "name": v.name,
        "key": v.details.get("key", ""),
        "status": v.status,
        "measured": v.measured,
        "threshold": v.threshold,
        "tolerance": v.details.get("tolerance"),
        "unit": v.unit,
        "evidence": v.evidence,
    }


def status_counts(result: SuiteResult) -> dict[str, int]:
    """How many scenarios ended in each status, every status present (zeros included)."""
    return {status: sum(j.status == status for j in result.journals) for status in STATUSES}


def counts_text(result: SuiteResult) -> str:
    """``9 passed, 0 failed, 1 inconclusive, 0 aborted`` (interrupted only when there is one)."""
    counts = status_counts(result)
    shown = [s for s in STATUSES if s != "interrupted" or counts[s]]
    return ", ".join(f"{counts[s]} {s}" for s in shown)


def unknown_checks(result: SuiteResult) -> list[tuple[str, Verdict]]:
    """(scenario, verdict) for every check that could not be judged, in run order."""
    return [
        (j.experiment, v)
        for j in result.journals
        for v in (*j.steady_state, *j.verdicts)
        if v.status == UNKNOWN
    ]


def scenario_json(journal: Journal) -> dict[str, Any]:
    spec = scenarios.SCENARIOS.get(journal.experiment)
    return {
        "name": journal.experiment,
        "test": spec.test if spec else 0,
        "title": spec.title if spec else "No false positives (steady state)",
        "status": journal.status,
        "error": journal.error,
        "started_at": iso_time(journal.started_at),
        "ended_at": iso_time(journal.ended_at),
        "duration_s": round(journal.duration, 3),
        "timings": {k: round(v, 3) for k, v in journal.timings.items()},
        "steady_state": [_check(v) for v in journal.steady_state],
        "steady_state_after": [_check(v) for v in journal.steady_state_after],
        "checks": [_check(v) for v in journal.verdicts],
        "faults": journal.fault_json(),
    }


def suite_json(result: SuiteResult) -> dict[str, Any]:
    return {
        "chaoslib_version": chaoslib_version(),
        "status": result.status,
        "counts": status_counts(result),
        "error": result.error,
        "profile": result.profile.name,
        "timing": result.timing,
        "fragile": result.fragile,
        "started_at": iso_time(result.started_at),
        "ended_at": iso_time(result.ended_at),
        "duration_s": round(max(0.0, result.ended_at - result.started_at), 3),
        "scenarios": [scenario_json(j) for j in result.journals],
        "checklist": [line.to_json() for line in checklist(result)],
        "performance": [line.to_json() for line in performance(result)],
    }


def write_journal(result: SuiteResult, path: Path) -> Path:
    write_text(path, json.dumps(suite_json(result), indent=2, default=str) + "\n")
    details = path.parent / "scenarios"
    for journal in result.journals:
        journal.write(details / f"{journal.experiment}.json")
    return path
