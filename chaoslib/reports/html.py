"""report.html: self-contained (inline CSS and SVG, no fetches), readable offline.

The checklist first, then per scenario its checks and a timeline chart:
shaded fault windows, one lane per service (up, degraded, down as observed),
and markers for alerts, reassignments and restarts.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN, threshold_text
from chaoslib.experiment.files import iso_time, write_text
from chaoslib.experiment.journal import Journal
from chaoslib.profiles.contract import HeartbeatDef
from chaoslib.reports.chart import COLOURS, MARKER_COLOURS, chart
from chaoslib.reports.journal import counts_text, scenario_json, unknown_checks
from chaoslib.scenarios.checklist import NOT_RUN, LineResult, checklist, performance

if TYPE_CHECKING:
    from chaoslib.scenarios.suite import SuiteResult

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin:1.2em 0 .3em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f6f6f6}.num{text-align:right;white-space:nowrap}.ev{color:#555;font-size:12px}
.pass{color:#17803d}.fail{color:#b42318}.unknown,.not-run{color:#8a6d00}
.status{display:inline-block;min-width:5.2em;padding:0 6px;border-radius:3px;color:#fff;
font:700 11px/18px system-ui,sans-serif;text-align:center;letter-spacing:.03em}
.status.pass{background:#17803d}.status.fail{background:#b42318}
.status.unknown{background:#8a6d00}.status.not-run{background:#6e7781}
tr.row.fail td{background:#fdecea;color:#7a1a12}tr.row.fail td:first-child{box-shadow:inset 4px 0 #b42318}
tr.row.unknown td{background:#fff8e1}tr.row.not-run td{color:#6e7781}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.badge.passed{background:#17803d}.badge.failed,.badge.aborted{background:#b42318}
.badge.interrupted,.badge.inconclusive{background:#8a6d00}
svg text{font:11px system-ui,sans-serif}svg .marker-name{paint-order:stroke;stroke:#fff;stroke-width:3px}.legend span{margin-right:1em}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
"""
# Each status is a word on its own colour, and its row is tinted: no emoji, which render
# as empty boxes where no emoji font is installed (a CI runner, a headless browser).
STATUS = {PASS: ("pass", "PASS"), FAIL: ("fail", "FAIL"), UNKNOWN: ("unknown", "UNKNOWN"),
          NOT_RUN: ("not-run", "NOT RUN")}  # fmt: skip


def status_label(status: str) -> str:
    """The status as a word on its colour: ``<span class="status fail">FAIL</span>``."""
    css, word = STATUS.get(status, ("unknown", status.upper()))
    return f'<span class="status {css}">{escape(word)}</span>'


def _row(status: str, cells: str) -> str:
    css = STATUS.get(status, ("unknown", ""))[0]
    return f'<tr class="row {css}"><td>{status_label(status)}</td>{cells}</tr>'


def _figure(value: object, unit: str) -> str:
    if value is None:
        return "–"
    return f"{value:g} {unit}".strip() if isinstance(value, (int, float)) else f"{value} {unit}"


def _line_row(r: LineResult) -> str:
    return _row(
        r.status,
        f"<td>{escape(r.line.text)}</td><td class=num>{escape(r.figure())}</td>"
        f"<td class=ev>{escape(r.evidence[:220])}</td>",
    )


def _checklist(result: SuiteResult) -> str:
    rows, section = [], None
    for r in checklist(result):
        if r.line.section != section:
            section = r.line.section
            rows.append(f"<tr><th colspan=4>{escape(section)}</th></tr>")
        rows.append(_line_row(r))
    perf = "".join(_line_row(r) for r in performance(result))
    head = (
        "<tr><th>Status</th><th>Criterion</th><th>Measured (threshold)</th><th>Evidence</th></tr>"
    )
    return (
        f'<h2>Success Criteria Checklist</h2><table class="checklist">{head}{"".join(rows)}</table>'
        f'<h2>Performance Metrics</h2><table class="checklist">{head}{perf}</table>'
    )


def _check_row(c: dict[str, Any], when: str = "") -> str:
    return _row(
        c["status"],
        f"<td>{escape(when + c['name'])}</td>"
        f"<td class=num>{escape(_figure(c['measured'], c['unit']))}</td>"
        f"<td class=num>{escape(threshold_text(c['threshold'], c['unit'], c.get('tolerance')))}</td>"
        f"<td class=ev>{escape(c['evidence'][:300])}</td>",
    )


def scenario_section(journal: Journal, heartbeat: HeartbeatDef | None = None) -> str:
    """One experiment: its title and status, its timeline, and its checks, row by row."""
    data = scenario_json(journal)
    rows = "".join(
        [_check_row(c, "before the faults: ") for c in data["steady_state"]]
        + [_check_row(c) for c in data["checks"]]
        + [_check_row(c, "after the faults: ") for c in data["steady_state_after"]]
    )
    title = f"Test {data['test']}: {data['title']}" if data["test"] else data["title"]
    error = f"<p class=fail>{escape(data['error'])}</p>" if data["error"] else ""
    return (
        f'<section class="scenario" id="{escape(data["name"])}"><h3>{escape(title)} '
        f'<code>{escape(data["name"])}</code> <span class="badge {data["status"]}">{data["status"]}</span> '
        f"<small>{data['duration_s']:.1f}s</small></h3>{error}{chart(journal, heartbeat)}"
        f'<table class="checks"><tr><th>Status</th><th>Check</th><th>Measured</th><th>Threshold</th>'
        f"<th>Evidence</th></tr>{rows}</table></section>"
    )


def _unknown(result: SuiteResult) -> str:
    """Each check that could not be judged, with its reason in full: what to declare next."""
    found = unknown_checks(result)
    if not found:
        return ""
    rows = "".join(
        _row(
            v.status,
            f"<td><code>{escape(scenario)}</code></td><td>{escape(v.name)}</td>"
            f"<td class=ev>{escape(v.evidence)}</td>",
        )
        for scenario, v in found
    )
    return (
        '<section class="inconclusive"><h2>Checks that could not be judged</h2>'
        "<p>Neither passed nor failed: each says what it lacked.</p><table>"
        f"<tr><th>Status</th><th>Scenario</th><th>Check</th><th>Reason</th></tr>{rows}</table></section>"
    )


def _legend() -> str:
    legend = "".join(
        f'<span><i class=sw style="background:{c}"></i>{s}</span>' for s, c in COLOURS.items()
    )
    legend += '<span><i class=sw style="background:#e5534b33;border:1px dashed #e5534b"></i>fault window</span>'
    legend += "".join(
        f'<span><i class=sw style="background:{c};border-radius:6px"></i>{k}</span>'
        for k, c in MARKER_COLOURS.items()
    )
    return f"<p class=legend>{legend}</p>"


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>"
    )


def render(result: SuiteResult) -> str:
    when = iso_time(result.started_at)
    return _page(
        f"chaoslib suite: {result.status}",
        f'<h1>Chaos suite <span class="badge {result.status}">{result.status}</span></h1>'
        f"<p>Profile <b>{escape(result.profile.name)}</b>, timing <b>{escape(result.timing)}</b>"
        + (f", fragile <b>{escape(result.fragile)}</b>" if result.fragile else "")
        + f"; started {when}, took {max(0.0, result.ended_at - result.started_at):.1f}s.</p>"
        + f"<p>Scenarios: {escape(counts_text(result))}.</p>"
        + (f"<p class=fail>{escape(result.error)}</p>" if result.error else "")
        + _unknown(result)
        + _checklist(result)
        + f"<h2>Scenarios</h2>{_legend()}"
        + "".join(scenario_section(j, result.profile.contract.heartbeat) for j in result.journals),
    )


def write_html(result: SuiteResult, path: Path) -> Path:
    return write_text(path, render(result))


def write_run_html(journal: Journal, path: Path, heartbeat: HeartbeatDef | None = None) -> Path:
    """``chaos run``: one experiment's section, its timeline and its checks."""
    body = (
        f'<h1>chaos run {escape(journal.experiment)} <span class="badge {journal.status}">'
        f"{journal.status}</span></h1><p>Started {iso_time(journal.started_at)}, took "
        f"{journal.duration:.1f}s.</p>{_legend()}{scenario_section(journal, heartbeat)}"
    )
    return write_text(path, _page(f"chaos run {journal.experiment}: {journal.status}", body))
