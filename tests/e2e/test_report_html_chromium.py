"""report.html as a real browser lays it out: Debian's headless Chromium, no mocks.

The journal is built to overprint as the report used to: two faults applied at the same
instant ("stop-shard_01", "stop-shard_02") and a shard marked dead at the alert's time.
A script appended to the page writes each label's getBoundingClientRect() and each
status row's computed style into the DOM, and ``chromium --dump-dom`` hands them back.
Without Chromium the test skips, unless CHAOS_BROWSER_TESTS=1 (CI), where it fails.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chaoslib.experiment.checks import Verdict
from chaoslib.experiment.journal import FaultEvent, Journal
from chaoslib.observe.history import Event
from chaoslib.profiles import load_profile
from chaoslib.reports import write_reports
from chaoslib.scenarios.suite import SuiteResult

PROBE = """<script>
const out = {labels: [], rows: [], charts: []};
document.querySelectorAll("svg.timeline").forEach((svg, i) => {
  const c = svg.getBoundingClientRect();
  out.charts.push({left: c.left, top: c.top, right: c.right, bottom: c.bottom});
  svg.querySelectorAll("text.label").forEach((t) => {
    const r = t.getBoundingClientRect();
    out.labels.push({svg: i, text: t.firstChild.nodeValue, left: r.left, top: r.top,
                     right: r.right, bottom: r.bottom});
  });
});
document.querySelectorAll("tr.row").forEach((tr) => {
  const label = tr.querySelector(".status");
  out.rows.push({classes: tr.className, text: tr.textContent.slice(0, 120),
                 cell: getComputedStyle(tr.querySelector("td")).backgroundColor,
                 word: label.textContent, colour: getComputedStyle(label).backgroundColor,
                 width: label.getBoundingClientRect().width});
});
const pre = document.createElement("pre");
pre.id = "probe";
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""

NOT_REASSIGNED = Verdict(
    "games reassigned", "fail", None, 10, "s", "never reached shard_02", {"key": "reassign"}
)
MARKED_DEAD = Verdict("marked dead", "pass", 31.0, 65, "s", "after 31s", {"key": "mark_dead"})


def _crowded() -> Journal:
    """Faults at one instant, an alert and a dead mark at one instant: labels that overprint."""
    events = []
    for i in range(61):
        t = 1000.0 + i
        for lane in ("redis", "orchestrator", "shard_01", "shard_02"):
            down = lane.startswith("shard") and 20 <= i < 40
            events.append(Event(t, f"up:{lane}", "state", not down, "", wall=t))
    alert = {"text": ":rotating_light: AllWorkersUnhealthy: every shard is dead"}
    events += [
        Event(1031.0, "webhook", "delivery", True, alert, wall=1031.0),
        Event(1031.0, "log:orchestrator", "log", True, "worker_dead", "shard_01 marked Dead"),
        Event(1031.2, "log:orchestrator", "log", True, "worker_dead", "shard_02 marked Dead"),
        Event(1031.5, "log:orchestrator", "log", True, "reassigning", "reassigning games"),
        Event(1041.0, "log:orchestrator", "log", True, "restart_detected", "shard_01 is back"),
    ]
    faults = tuple(
        FaultEvent(name, action, t, t, name.replace("-", " "))
        for name in ("stop-shard_01", "stop-shard_02")
        for action, t in (("apply", 1020.0), ("heal", 1040.0))
    )
    return Journal(
        "shard-crash", "local", "fast", "failed", 1000.0, 1060.0, False,
        steady_state=(MARKED_DEAD,), faults=faults, verdicts=(MARKED_DEAD, NOT_REASSIGNED),
        events=tuple(events), timings={"faults_start": 20.0, "total": 60.0},
    )  # fmt: skip


def _dense() -> Journal:
    """Many labels of different lengths in a short span, up to the chart's right edge."""
    events = [Event(float(t), "up:redis", "state", True, "", wall=float(t)) for t in range(11)]
    for i in range(14):
        t = 3.0 + i * 0.5
        text = f":warning: {'Redis' * (1 + i % 3)}Issue{i}: x"
        events.append(Event(t, "webhook", "delivery", True, {"text": text}, wall=t))
        events.append(Event(t + 0.05, "log:orchestrator", "log", True, "restart_detected", "x"))
    names = [f"cut-link-{'x' * (i * 3)}{i}" for i in range(5)]
    faults = tuple(
        FaultEvent(name, action, t, t, name)
        for i, name in enumerate(names)
        for action, t in (("apply", 6.0 + i * 0.8), ("heal", 10.0))
    )
    return Journal(
        "redis-restart", "local", "fast", "passed", 0.0, 10.0, False,
        faults=faults, events=tuple(events),
    )  # fmt: skip


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CHAOS_BROWSER_TESTS") == "1":
        pytest.fail("CHAOS_BROWSER_TESTS=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("no chromium on PATH; CI sets CHAOS_BROWSER_TESTS=1 and installs it")


def _render(tmp_path: Path, result: SuiteResult) -> dict:
    chromium = _chromium()
    page = write_reports(result, tmp_path / "out")["html"]
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def _result(tmp_path: Path) -> SuiteResult:
    profile = load_profile("local")
    return SuiteResult(
        profile, "fast", "", tmp_path / "reports", [_crowded(), _dense()], 1000.0, 1061.0
    )


def _overlaps(boxes: list[dict]) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes share more than half a pixel each way."""
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            dx = min(a["right"], b["right"]) - max(a["left"], b["left"])
            dy = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            if a["svg"] == b["svg"] and dx > 0.5 and dy > 0.5:
                found.append((a["text"], b["text"]))
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    return _render(tmp_path_factory.mktemp("chromium"), _result(tmp_path_factory.mktemp("r")))


def test_no_two_timeline_labels_overlap_in_chromium(rendered):
    labels = rendered["labels"]
    texts = [b["text"] for b in labels]
    # The labels that used to overprint are all drawn, each with a real box.
    assert {"stop-shard_01", "stop-shard_02", "alert AllWorkersUnhealthy"} <= set(texts), texts
    assert any(t.startswith("marked dead") for t in texts), texts
    assert all(b["right"] - b["left"] > 5 and b["bottom"] - b["top"] > 5 for b in labels)
    assert len([b for b in labels if b["svg"] == 1]) > 25  # the dense chart drew its labels
    assert _overlaps(labels) == []
    for b in labels:  # and none is cut off by the chart's edge
        chart = rendered["charts"][b["svg"]]
        assert chart["left"] - 1 <= b["left"] and b["right"] <= chart["right"] + 1, b
        assert chart["top"] - 1 <= b["top"] and b["bottom"] <= chart["bottom"] + 1, b


def test_a_failed_check_row_is_styled_as_failed_and_says_fail(rendered):
    rows = rendered["rows"]
    failed = [r for r in rows if "games reassigned" in r["text"] and "fail" in r["classes"]]
    passed = [r for r in rows if r["word"] == "PASS"]
    assert failed and passed, rows
    for row in failed:
        assert row["word"] == "FAIL"
        assert row["colour"] == "rgb(180, 35, 24)"  # the label is red, with the word on it
        assert row["cell"] not in (passed[0]["cell"], "rgba(0, 0, 0, 0)")  # the row is tinted
        assert row["width"] > 20  # text, not an empty box
    # The checklist's line for the failed check is styled as failed too.
    line = [r for r in rows if "Games automatically reassigned" in r["text"]]
    assert [r["word"] for r in line] == ["FAIL"] and "fail" in line[0]["classes"]
    assert line[0]["cell"] == failed[0]["cell"]


def test_unknown_and_not_run_are_words_too(rendered):
    words = {r["word"] for r in rendered["rows"]}
    assert {"PASS", "FAIL", "NOT RUN"} <= words, words


def test_the_report_has_no_emoji(tmp_path):
    page = write_reports(_result(tmp_path), tmp_path / "out")["html"].read_text()
    assert not re.search("[\u2705\u274c\u2754\u2796\U0001f300-\U0001faff]", page)
