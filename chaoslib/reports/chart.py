"""A scenario's timeline as inline SVG: fault windows, one lane per service, event markers.

Labels never overprint: each band of labels (markers above the lanes, fault names below)
is laid out in rows, and a label that would overlap the one before it in a row moves to
the next row. Widths are estimated from the characters with DejaVu Sans' advances
(Debian's default sans, among the widest), so the estimate errs on the wide side.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from chaoslib.experiment.journal import Journal
from chaoslib.profiles.contract import HeartbeatDef
from chaoslib.reports import timeline

COLOURS = {"up": "#3fb950", "degraded": "#f2b705", "down": "#e5534b"}
MARKER_COLOURS = {"alert": "#b42318", "dead": "#444", "reassign": "#1f6feb", "restart": "#8250df"}
LABEL_W, PLOT_W, LANE_H = 120, 810, 20
WIDTH = LABEL_W + PLOT_W + 10
FONT_PX = 11
ROW_H = 15  # a row of 11px labels: the text's box (about 13px) and a gap
GAP = 6  # the least horizontal space between two labels in a row
_NARROW, _SLIM, _WIDE = set("il.,:;|!'` "), set("fjtrI-()[]/"), set("mwMW×%@")


def text_width(text: str, size: float = FONT_PX) -> float:
    """An upper estimate of ``text``'s rendered width in pixels."""
    em = 0.0
    for c in text:
        if c in _NARROW:
            em += 0.32
        elif c in _SLIM:
            em += 0.44
        elif c in _WIDE:
            em += 1.0
        elif c.isupper():
            em += 0.8
        else:
            em += 0.64
    return em * size * 1.06


@dataclass(frozen=True)
class Placed:
    """A label at ``x`` (the point it labels), drawn to the right of it if it fits."""

    x: float
    text: str
    anchor: str  # start | end
    row: int

    @property
    def text_x(self) -> float:
        return self.x + 4 if self.anchor == "start" else self.x - 4


def _box(x: float, text: str, anchor: str) -> tuple[float, float]:
    w = text_width(text)
    return (x + 4, x + 4 + w) if anchor == "start" else (x - 4 - w, x - 4)


def lay_out(points: list[tuple[float, str]], right_edge: float = WIDTH) -> list[Placed]:
    """Rows for labels at (x, text): first fit, in order of x; a label that would run past
    ``right_edge`` is drawn to the left of its point instead."""
    rows: list[float] = []  # the right end of the last label in each row
    placed = []
    for x, text in sorted(points, key=lambda p: p[0]):
        anchor = "start" if _box(x, text, "start")[1] <= right_edge else "end"
        left, right = _box(x, text, anchor)
        row = next((i for i, end in enumerate(rows) if end + GAP <= left), len(rows))
        if row == len(rows):
            rows.append(right)
        rows[row] = right
        placed.append(Placed(x, text, anchor, row))
    return placed


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


def _fit(text: str, width: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if text_width(text) <= width:
        return text
    while text and text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def chart(journal: Journal, heartbeat: HeartbeatDef | None = None) -> str:
    tl = timeline.build(journal, heartbeat)
    markers = _markers(tl)
    marker_labels = lay_out([(_x(m.t, tl), m.label[:40]) for m in markers])
    top = 14 + ROW_H * (max((p.row for p in marker_labels), default=0) + 1)
    bottom = top + LANE_H * len(tl.lanes)
    window_labels = lay_out([(_x(w.start, tl), w.name) for w in tl.windows])
    rows_below = max((p.row for p in window_labels), default=-1) + 1
    height = bottom + 14 + ROW_H * (rows_below + 1)
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label="timeline of {escape(journal.experiment)}">'
    ]
    by_start = sorted(tl.windows, key=lambda w: _x(w.start, tl))
    for w, label in zip(by_start, window_labels, strict=True):
        x0, x1 = _x(w.start, tl), _x(w.end, tl)
        y = bottom + 14 + ROW_H * (label.row + 1)
        parts.append(
            f'<rect class="fault-window" data-fault="{escape(w.name)}" x="{x0:.1f}" y="{top - 6}" '
            f'width="{max(x1 - x0, 1.5):.1f}" height="{bottom - top + 8}" fill="#e5534b" '
            f'fill-opacity="0.12" stroke="#e5534b" stroke-dasharray="3 2"><title>'
            f"{escape(w.description)}: {w.end - w.start:.2f}s</title></rect>"
            f'<text class="label window" x="{label.text_x:.1f}" y="{y}" fill="#b42318" '
            f'text-anchor="{label.anchor}">{escape(w.name)}</text>'
        )
    for i, lane in enumerate(tl.lanes):
        y = top + i * LANE_H
        parts.append(
            f'<g class="lane" data-lane="{escape(lane)}"><text class="label lane-name" x="4" '
            f'y="{y + 14}">{escape(_fit(lane, LABEL_W - 10))}<title>{escape(lane)}</title></text>'
        )
        for s in (s for s in tl.segments if s.lane == lane):
            x0, x1 = _x(s.start, tl), _x(s.end, tl)
            parts.append(
                f'<rect class="state {s.state}" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 0.8):.1f}" '
                f'height="{LANE_H - 6}" fill="{COLOURS[s.state]}"><title>{escape(lane)} {s.state} '
                f"{s.start - tl.start:.2f}–{s.end - tl.start:.2f}s</title></rect>"
            )
        parts.append("</g>")
    names = []  # drawn after every marker's line, so that no line crosses a label
    for m, label in zip(sorted(markers, key=lambda m: m.t), marker_labels, strict=True):
        x, colour = label.x, MARKER_COLOURS.get(m.kind, "#555")
        y = 14 + ROW_H * label.row
        parts.append(
            f'<g class="marker {m.kind}"><line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 2}" y2="{bottom}" '
            f'stroke="{colour}" stroke-width="1"/><circle cx="{x:.1f}" cy="{y - 4}" r="3" '
            f'fill="{colour}"/><title>{escape(m.label)} at {m.t - tl.start:.2f}s</title></g>'
        )
        names.append(
            f'<text class="label marker-name" x="{label.text_x:.1f}" y="{y}" fill="{colour}" '
            f'text-anchor="{label.anchor}">{escape(label.text)}'
            f"<title>{escape(m.label)} at {m.t - tl.start:.2f}s</title></text>"
        )
    parts += names
    span = tl.end - tl.start
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300) if span / s <= 12), 600)
    k = 0
    while k * step <= span:
        x = _x(tl.start + k * step, tl)
        parts.append(
            f'<text class="label tick" x="{x:.1f}" y="{bottom + 14}" fill="#777" '
            f'text-anchor="middle">{k * step:g}s</text>'
        )
        k += 1
    parts.append("</svg>")
    return "".join(parts)
