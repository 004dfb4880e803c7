"""report.html: self-contained (inline CSS and SVG, no fetches), readable offline.

The checklist first, then per scenario its checks and a timeline chart:
shaded fault windows, one lane per service (up, degraded, down as observed),
and markers for alerts, reassignments and restarts.
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

from chaoslib.checklist import LineResult, checklist, mark, performance
from chaoslib.checks import threshold_text
from chaoslib.journal import Journal
from chaoslib.profile_contract import HeartbeatDef
from chaoslib.reports import timeline
from chaoslib.reports.journal import counts_text, scenario_json, unknown_checks
from chaoslib.suite import SuiteResult

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin:1.2em 0 .3em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f6f6f6}.num{text-align:right;white-space:nowrap}.ev{color:#555;font-size:12px}
.pass{color:#17803d}.fail{color:#b42318}.unknown,.not{color:#8a6d00}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.badge.passed{background:#17803d}.badge.failed,.badge.aborted{background:#b42318}
.badge.interrupted,.badge.inconclusive{background:#8a6d00}
svg text{font:11px system-ui,sans-serif}.legend span{margin-right:1em}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
"""
COLOURS = {"up": "#3fb950", "degraded": "#f2b705", "down": "#e5534b"}
MARKER_COLOURS = {"alert": "#b42318", "dead": "#444", "reassign": "#1f6feb", "restart": "#8250df"}
LABEL_W, PLOT_W, LANE_H, TOP = 120, 810, 20, 46


def _figure(value: object, unit: str) -> str:
    if value is None:
        return "–"
    return f"{value:g} {unit}".strip() if isinstance(value, (int, float)) else f"{value} {unit}"


def _line_row(r: LineResult) -> str:
    return (
        f"<tr><td>{mark(r.status)}</td><td>{escape(r.line.text)}</td>"
        f"<td class=num>{escape(r.figure())}</td>"
        f"<td class=ev>{escape(r.evidence[:220])}</td></tr>"
    )


def _checklist(result: SuiteResult) -> str:
    rows, section = [], None
    for r in checklist(result):
        if r.line.section != section:
            section = r.line.section
            rows.append(f"<tr><th colspan=4>{escape(section)}</th></tr>")
        rows.append(_line_row(r))
    perf = "".join(_line_row(r) for r in performance(result))
    head = "<tr><th></th><th>Criterion</th><th>Measured (threshold)</th><th>Evidence</th></tr>"
    return (
        f"<h2>Success Criteria Checklist</h2><table>{head}{''.join(rows)}</table>"
        f"<h2>Performance Metrics</h2><table>{head}{perf}</table>"
    )


def _x(t: float, tl: timeline.Timeline) -> float:
    return LABEL_W + (t - tl.start) / (tl.end - tl.start) * PLOT_W


def _markers(tl: timeline.Timeline) -> list[timeline.Marker]:
    """Markers of one kind within 1% of the span are drawn once, with a count."""
    merged: list[tuple[timeline.Marker, int]] = []
    for m in sorted(tl.markers, key=lambda m: m.t):
        close = merged and m.t - merged[-1][0].t < (tl.end - tl.start) / 100
        if close and merged[-1][0].label == m.label:
            merged[-1] = (merged[-1][0], merged[-1][1] + 1)
        else:
            merged.append((m, 1))
    return [timeline.Marker(m.t, m.kind, m.label + (f" ×{n}" if n > 1 else "")) for m, n in merged]


def chart(journal: Journal, heartbeat: HeartbeatDef | None = None) -> str:
    tl = timeline.build(journal, heartbeat)
    height = TOP + LANE_H * len(tl.lanes) + 28
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + PLOT_W + 10}" '
        f'height="{height}" role="img" aria-label="timeline of {escape(journal.experiment)}">'
    ]
    bottom = TOP + LANE_H * len(tl.lanes)
    for w in tl.windows:
        x0, x1 = _x(w.start, tl), _x(w.end, tl)
        parts.append(
            f'<rect class="fault-window" data-fault="{escape(w.name)}" x="{x0:.1f}" y="{TOP - 6}" '
            f'width="{max(x1 - x0, 1.5):.1f}" height="{bottom - TOP + 12}" fill="#e5534b" fill-opacity="0.12" '
            f'stroke="#e5534b" stroke-dasharray="3 2"><title>{escape(w.description)}: '
            f"{w.end - w.start:.2f}s</title></rect>"
            f'<text x="{x0 + 2:.1f}" y="{bottom + 22}" fill="#b42318">{escape(w.name)}</text>'
        )
    for i, lane in enumerate(tl.lanes):
        y = TOP + i * LANE_H
        parts.append(
            f'<g class="lane" data-lane="{escape(lane)}"><text x="4" y="{y + 14}">{escape(lane)}</text>'
        )
        for s in (s for s in tl.segments if s.lane == lane):
            x0, x1 = _x(s.start, tl), _x(s.end, tl)
            parts.append(
                f'<rect class="state {s.state}" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 0.8):.1f}" '
                f'height="{LANE_H - 6}" fill="{COLOURS[s.state]}"><title>{escape(lane)} {s.state} '
                f"{s.start - tl.start:.2f}–{s.end - tl.start:.2f}s</title></rect>"
            )
        parts.append("</g>")
    for j, m in enumerate(_markers(tl)):
        x, colour = _x(m.t, tl), MARKER_COLOURS.get(m.kind, "#555")
        left = x < LABEL_W + 0.7 * PLOT_W  # labels near the right edge grow leftwards
        y = 12 + (j % 3) * 11
        parts.append(
            f'<g class="marker {m.kind}"><line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 2}" y2="{bottom}" '
            f'stroke="{colour}" stroke-width="1"/><circle cx="{x:.1f}" cy="{y}" r="3" fill="{colour}"/>'
            f'<text x="{x + (5 if left else -5):.1f}" y="{y + 4}" fill="{colour}" '
            f'text-anchor="{"start" if left else "end"}">{escape(m.label[:40])}</text>'
            f"<title>{escape(m.label)} at {m.t - tl.start:.2f}s</title></g>"
        )
    span = tl.end - tl.start
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300) if span / s <= 12), 600)
    k = 0
    while k * step <= span:
        x = _x(tl.start + k * step, tl)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{bottom + 11}" fill="#777">{k * step:g}s</text>'
        )
        k += 1
    parts.append("</svg>")
    return "".join(parts)


def _scenario(journal: Journal, heartbeat: HeartbeatDef | None) -> str:
    data = scenario_json(journal)
    rows = "".join(
        f"<tr><td class={c['status']}>{mark(c['status'])}</td><td>{escape(c['name'])}</td>"
        f"<td class=num>{escape(_figure(c['measured'], c['unit']))}</td>"
        f"<td class=num>{escape(threshold_text(c['threshold'], c['unit'], c.get('tolerance')))}</td>"
        f"<td class=ev>{escape(c['evidence'][:300])}</td></tr>"
        for c in data["steady_state"] + data["checks"]
    )
    title = f"Test {data['test']}: {data['title']}" if data["test"] else data["title"]
    error = f"<p class=fail>{escape(data['error'])}</p>" if data["error"] else ""
    return (
        f'<section class="scenario" id="{escape(data["name"])}"><h3>{escape(title)} '
        f'<code>{escape(data["name"])}</code> <span class="badge {data["status"]}">{data["status"]}</span> '
        f"<small>{data['duration_s']:.1f}s</small></h3>{error}{chart(journal, heartbeat)}"
        f"<table><tr><th></th><th>Check</th><th>Measured</th><th>Threshold</th><th>Evidence</th></tr>"
        f"{rows}</table></section>"
    )


def _unknown(result: SuiteResult) -> str:
    """Each check that could not be judged, with its reason in full: what to declare next."""
    found = unknown_checks(result)
    if not found:
        return ""
    rows = "".join(
        f"<tr><td>{mark(v.status)}</td><td><code>{escape(scenario)}</code></td>"
        f"<td>{escape(v.name)}</td><td class=ev>{escape(v.evidence)}</td></tr>"
        for scenario, v in found
    )
    return (
        '<section class="inconclusive"><h2>Checks that could not be judged</h2>'
        "<p>Neither passed nor failed: each says what it lacked.</p><table>"
        f"<tr><th></th><th>Scenario</th><th>Check</th><th>Reason</th></tr>{rows}</table></section>"
    )


def render(result: SuiteResult) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(result.started_at))
    legend = (
        "".join(
            f'<span><i class=sw style="background:{c}"></i>{s}</span>' for s, c in COLOURS.items()
        )
        + '<span><i class=sw style="background:#e5534b33;border:1px dashed #e5534b"></i>fault window</span>'
    )
    legend += "".join(
        f'<span><i class=sw style="background:{c};border-radius:6px"></i>{k}</span>'
        for k, c in MARKER_COLOURS.items()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>chaoslib suite: {result.status}</title><style>{CSS}</style></head><body>"
        f'<h1>Chaos suite <span class="badge {result.status}">{result.status}</span></h1>'
        f"<p>Profile <b>{escape(result.profile.name)}</b>, timing <b>{escape(result.timing)}</b>"
        + (f", fragile <b>{escape(result.fragile)}</b>" if result.fragile else "")
        + f"; started {when}, took {result.ended_at - result.started_at:.1f}s.</p>"
        + f"<p>Scenarios: {escape(counts_text(result))}.</p>"
        + (f"<p class=fail>{escape(result.error)}</p>" if result.error else "")
        + _unknown(result)
        + _checklist(result)
        + f"<h2>Scenarios</h2><p class=legend>{legend}</p>"
        + "".join(_scenario(j, result.profile.contract.heartbeat) for j in result.journals)
        + "</body></html>"
    )


def write_html(result: SuiteResult, path: Path) -> Path:
    path.write_text(render(result), encoding="utf-8")
    return path
