"""The guide's Success Criteria Checklist and Performance Metrics, each line backed by checks.

Every line is the guide's text, verbatim; its status and measured figure come
from the scenario checks listed for it (``*`` means every scenario that ran it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN, Verdict, merge, threshold_text

if TYPE_CHECKING:
    from chaoslib.scenarios.suite import SuiteResult

NOT_RUN = "not run"
Source = tuple[str, str]  # (scenario, check key)


@dataclass(frozen=True)
class Line:
    section: str
    text: str
    sources: tuple[Source, ...]
    combine: str = "first"  # first: the first source's figure; sum; max; min; passed: n passing


def _l(section: str, text: str, *sources: Source, combine: str = "first") -> Line:
    return Line(section, text, sources, combine)


R, G, A, D, M, S = (
    "Redis Fault Tolerance",
    "Game Shard Management",
    "Critical Alerting",
    "Database Resilience",
    "System Monitor",
    "Graceful Degradation",
)
ALERTS = (
    ("all-shards-dead", "alert:all_workers_unhealthy"),
    ("redis-restart", "alert:redis_connectivity"),
    ("db-drop", "alert:database_connectivity"),
)

CHECKLIST: tuple[Line, ...] = (
    _l(R, "Services reconnect within 60 seconds of Redis restart", ("redis-restart", "reconnect")),
    _l(
        R,
        "Exponential backoff with jitter observed in logs",
        ("redis-restart", "backoff"),
        ("orchestrator-partition", "backoff"),
    ),
    _l(R, "Circuit breaker opens after 10 consecutive failures", ("redis-restart", "breaker")),
    _l(R, "No service crashes or permanent exits", ("*", "no_exits"), combine="sum"),
    _l(
        R,
        "Zero message loss during reconnection window",
        ("redis-restart", "message_loss"),
        ("orchestrator-partition", "message_loss"),
        ("load-failure", "message_loss"),
        ("load-failure", "load_no_loss"),
        combine="sum",
    ),
    _l(G, "Dead shards detected within 65 seconds", ("shard-crash", "mark_dead")),
    _l(G, "Games automatically reassigned to healthy shards", ("shard-crash", "reassign")),
    _l(G, "Restart detection works reliably", ("shard-restart", "restart_detected")),
    _l(G, "Game resync completes within 10 seconds", ("shard-restart", "resync")),
    _l(G, "Zombie games removed automatically", ("zombie-cleanup", "zombie")),
    _l(A, '"All shards unhealthy" alert sent and received', ALERTS[0]),
    _l(A, "Redis connectivity alert sent on failure", ALERTS[1]),
    _l(A, "Database connectivity alert sent on failure", ALERTS[2]),
    _l(A, "Alerts appear in Slack/webhook (if configured)", *ALERTS, combine="passed"),
    _l(A, "Alert rate limiting works (5 min default)", ("all-shards-dead", "rate_limit")),
    _l(
        A,
        "Alerts logged to file as fallback",
        ("all-shards-dead", "alert_file:all_workers_unhealthy"),
        ("db-drop", "alert_file:database_connectivity"),
        combine="passed",
    ),
    _l(D, "Health checks detect failures within 90 seconds", ("db-drop", "db_detect")),
    _l(D, "Retry logic handles transient failures", ("db-slow", "retry_rate")),
    _l(D, "Services continue operating in degraded mode", ("db-drop", "degraded")),
    _l(D, "Recovery detected and logged", ("db-drop", "db_recovered")),
    _l(D, "Connection pool statistics tracked", ("db-slow", "db_stats")),
    _l(M, "Runs every 30 seconds", ("all-shards-dead", "monitor_interval")),
    _l(
        M,
        "Detects all critical failure conditions",
        ("all-shards-dead", "monitor_detects"),
        *ALERTS[1:],
        combine="passed",
    ),
    _l(M, "Integrates with alert system", ALERTS[0]),
    _l(M, "No false positives", ("steady-state", "no_false_positives")),
    _l(
        S,
        "System continues operating with reduced capacity",
        ("shard-crash", "coverage"),
        ("db-drop", "degraded"),
        combine="passed",
    ),
    _l(
        S,
        "No cascading failures",
        ("shard-crash", "no_cascade"),
        ("orchestrator-partition", "partial"),
        combine="passed",
    ),
    _l(S, "Recovery is automatic (no manual intervention)", ("*", "recovered"), combine="max"),
    _l(
        S,
        "State consistency maintained",
        ("load-failure", "no_duplicates"),
        ("db-slow", "writes_kept"),
        combine="sum",
    ),
)

PERFORMANCE: tuple[Line, ...] = (
    _l("Performance Metrics", "Reconnection time: < 60 seconds",
       ("redis-restart", "reconnect"), ("load-failure", "reconnect"),
       ("orchestrator-partition", "subscriptions"), combine="max"),
    _l("Performance Metrics", "Game reassignment time: < 10 seconds", ("shard-crash", "reassign")),
    _l("Performance Metrics", "Alert delivery time: < 30 seconds", *ALERTS, combine="max"),
    _l("Performance Metrics", "Database retry success rate: > 95%",
       ("db-slow", "retry_rate"), combine="min"),
)  # fmt: skip


@dataclass(frozen=True)
class LineResult:
    line: Line
    status: str  # pass | fail | unknown | not run
    measured: float | int | None = None
    threshold: float | int | None = None
    unit: str = ""
    evidence: str = ""
    verdicts: tuple[tuple[str, Verdict], ...] = field(default_factory=tuple)

    def figure(self) -> str:
        """``measured (threshold …)`` as people read it."""
        if self.status == NOT_RUN:
            return "not run"
        if self.line.combine == "passed":
            return f"{self.measured} of {self.threshold} checks passed"
        tolerance = self.verdicts[0][1].details.get("tolerance") if self.verdicts else None
        threshold = threshold_text(self.threshold, self.unit, tolerance)
        return f"{_fmt(self.measured, self.unit)} (threshold {threshold})"

    def to_json(self) -> dict[str, object]:
        return {
            "section": self.line.section,
            "text": self.line.text,
            "status": self.status,
            "measured": self.measured,
            "threshold": self.threshold,
            "unit": self.unit,
            "evidence": self.evidence,
            "checks": [f"{scenario}: {v.name}" for scenario, v in self.verdicts],
        }


def _fmt(value: object, unit: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g} {unit}".strip()
    return f"{value} {unit}".strip()


def _found(result: SuiteResult, line: Line) -> list[tuple[str, Verdict]]:
    found = []
    for scenario, key in line.sources:
        journals = result.journals if scenario == "*" else [result.journal(scenario)]
        for journal in journals:
            if journal is None:
                continue
            for v in (*journal.verdicts, *journal.steady_state):
                if v.details.get("key") == key:
                    found.append((journal.experiment, v))
    return found


def evaluate(result: SuiteResult, line: Line) -> LineResult:
    found = _found(result, line)
    if not found:
        return LineResult(line, NOT_RUN, evidence="its scenario was not run")
    status = merge(v for _, v in found)
    first = found[0][1]
    figures = [v.measured for _, v in found if isinstance(v.measured, (int, float))]
    measured: float | int | None = first.measured
    threshold, unit = first.threshold, first.unit
    if line.combine == "passed":
        measured, threshold, unit = sum(v.status == PASS for _, v in found), len(found), "checks"
    elif figures and line.combine in ("sum", "max", "min"):
        measured = {"sum": sum, "max": max, "min": min}[line.combine](figures)
        if len({v.unit for _, v in found}) > 1:
            unit = "problems"  # counts of different things (games, rows) added up
    failing = [(s, v) for s, v in found if v.status != PASS]
    shown = failing[0] if failing else found[0]
    evidence = f"{shown[0]}: {shown[1].evidence}"
    return LineResult(line, status, measured, threshold, unit, evidence, tuple(found))


def checklist(result: SuiteResult) -> list[LineResult]:
    return [evaluate(result, line) for line in CHECKLIST]


def performance(result: SuiteResult) -> list[LineResult]:
    return [evaluate(result, line) for line in PERFORMANCE]


def mark(status: str) -> str:
    return {PASS: "✅", FAIL: "❌", UNKNOWN: "❔"}.get(status, "➖")


__all__ = ["CHECKLIST", "FAIL", "NOT_RUN", "PERFORMANCE", "LineResult", "checklist", "performance"]
