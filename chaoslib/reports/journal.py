"""journal.json: the suite's outcome, each scenario's checks, and the checklist, as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaoslib import scenarios
from chaoslib.checklist import checklist, performance
from chaoslib.journal import Journal
from chaoslib.state import write_json
from chaoslib.suite import SuiteResult


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


def scenario_json(journal: Journal) -> dict[str, Any]:
    spec = scenarios.SCENARIOS.get(journal.experiment)
    return {
        "name": journal.experiment,
        "test": spec.test if spec else 0,
        "title": spec.title if spec else "No false positives (steady state)",
        "status": journal.status,
        "error": journal.error,
        "duration_s": round(journal.ended_at - journal.started_at, 3),
        "steady_state": [_check(v) for v in journal.steady_state],
        "checks": [_check(v) for v in journal.verdicts],
        "faults": [
            {"fault": f.fault, "action": f.action, "t": round(f.t, 3), "wall": f.wall,
             "description": f.description, "error": f.error}
            for f in journal.faults
        ],
    }  # fmt: skip


def suite_json(result: SuiteResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "error": result.error,
        "profile": result.profile.name,
        "timing": result.timing,
        "fragile": result.fragile,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "duration_s": round(result.ended_at - result.started_at, 3),
        "scenarios": [scenario_json(j) for j in result.journals],
        "checklist": [line.to_json() for line in checklist(result)],
        "performance": [line.to_json() for line in performance(result)],
    }


def write_journal(result: SuiteResult, path: Path) -> Path:
    write_json(path, suite_json(result))
    details = path.parent / "scenarios"
    details.mkdir(exist_ok=True)
    for journal in result.journals:
        (details / f"{journal.experiment}.json").write_text(
            json.dumps(journal.to_json(), indent=1, default=str)
        )
    return path
