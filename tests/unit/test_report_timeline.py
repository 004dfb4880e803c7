"""The report's timeline, from a journal built by hand: lanes, states, windows and markers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chaoslib.experiment.journal import FaultEvent, Journal
from chaoslib.observe.history import Event
from chaoslib.profiles import load_profile
from chaoslib.reports import html, timeline

HEARTBEAT = load_profile("local").contract.heartbeat


def _journal() -> Journal:
    events = []
    for i in range(11):
        t = float(i)
        events.append(Event(t, "up:redis", "state", i not in (3, 4), ""))
        events.append(Event(t, "up:orchestrator", "state", True, ""))
        events.append(Event(t, "up:shard_01", "state", True, ""))
    events += [
        Event(2.95, "log:orchestrator", "log", True, "redis_disconnected", "x"),
        Event(6.5, "log:orchestrator", "log", True, "redis_connected", "x"),
        Event(
            3.5,
            "webhook",
            "delivery",
            True,
            {"text": ":rotating_light: RedisConnectivityIssue: down"},
        ),
        Event(
            1.95, "hb", "message", True, {"shard_id": "shard_01", "status": "degraded", "games": []}
        ),
        Event(
            7.95, "hb", "message", True, {"shard_id": "shard_01", "status": "healthy", "games": []}
        ),
        Event(5.0, "log:orchestrator", "log", True, "restart_detected", "x"),
    ]
    faults = (
        FaultEvent("stop-redis", "apply", 2.9, 0.0, "stop redis"),
        FaultEvent("stop-redis", "heal", 5.0, 0.0, "stop redis"),
    )
    return Journal(
        "demo", "local", "fast", "passed", 0.0, 1.0, False, faults=faults, events=tuple(events)
    )


def _states(tl: timeline.Timeline, lane: str) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.state) for s in tl.segments if s.lane == lane]


def test_lanes_show_down_degraded_and_up_as_observed():
    tl = timeline.build(_journal(), HEARTBEAT)
    assert tl.lanes == ["redis", "orchestrator", "shard_01"]
    assert _states(tl, "redis") == [(0, 3, "up"), (3, 5, "down"), (5, 10, "up")]
    # Degraded while it was reconnecting: from the disconnect line to the reconnect line.
    assert _states(tl, "orchestrator") == [(0, 3, "up"), (3, 7, "degraded"), (7, 10, "up")]
    assert _states(tl, "shard_01") == [(0, 2, "up"), (2, 8, "degraded"), (8, 10, "up")]
    assert [(w.name, w.start, w.end) for w in tl.windows] == [("stop-redis", 2.9, 5.0)]
    assert [(m.kind, m.label) for m in tl.markers] == [
        ("alert", "alert RedisConnectivityIssue"),
        ("restart", "restart detected"),
    ]


def test_the_chart_is_valid_svg_with_a_window_and_a_lane_each():
    svg = ET.fromstring(html.chart(_journal()))
    ns = "{http://www.w3.org/2000/svg}"
    windows = [e for e in svg.iter(f"{ns}rect") if e.get("class") == "fault-window"]
    lanes = [e.get("data-lane") for e in svg.iter(f"{ns}g") if e.get("class") == "lane"]
    assert [w.get("data-fault") for w in windows] == ["stop-redis"]
    assert lanes == ["redis", "orchestrator", "shard_01"]
    down = [e for e in svg.iter(f"{ns}rect") if e.get("class") == "state down"]
    assert len(down) == 1 and float(down[0].get("width")) > 0


def test_labels_at_one_instant_go_to_separate_rows_and_a_free_row_is_reused():
    from chaoslib.reports.chart import lay_out, text_width

    placed = lay_out([(300.0, "stop-shard_01"), (300.0, "stop-shard_02"), (700.0, "heal")])
    assert [(p.text, p.row) for p in placed] == [
        ("stop-shard_01", 0),
        ("stop-shard_02", 1),
        ("heal", 0),  # clear of the first row's label: back in the first row
    ]
    # Near the right edge a label is drawn to the left of its point, inside the chart.
    [edge] = lay_out([(920.0, "restart detected")], right_edge=940.0)
    assert edge.anchor == "end" and edge.x - 4 - text_width(edge.text) >= 0


def test_every_text_in_the_chart_is_a_label_so_the_browser_test_checks_them_all():
    svg = ET.fromstring(html.chart(_journal()))
    ns = "{http://www.w3.org/2000/svg}"
    labels = [e for e in svg.iter(f"{ns}text") if "label" in (e.get("class") or "").split()]
    assert len(labels) == len(list(svg.iter(f"{ns}text")))
