"""The journal is honest: which chaoslib wrote it, ISO-8601 times, the steady state before and
after the faults, every ``t`` and every evidence in seconds since the run started, and its
files readable like any other file the user creates (the umask decides, as for open())."""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import datetime

import pytest

import chaoslib
from chaoslib.experiment import checks
from chaoslib.experiment.checks import Verdict
from chaoslib.experiment.journal import FaultEvent, Journal
from chaoslib.experiment.runner import Experiment
from chaoslib.faults import Link, schedule
from chaoslib.observe import redis_ping
from chaoslib.observe.history import Event, History
from chaoslib.profiles import load_profile
from chaoslib.reports import write_reports, write_run_reports
from chaoslib.scenarios.suite import SuiteResult

WALL = 1_764_615_600.0  # 2025-12-01T19:00:00Z
ORIGIN = 5000.0  # the experiment clock (monotonic) when the run started
STEADY = Verdict("steady", "pass", 0, 0, "items", "every item on one worker")


def _journal(**kw) -> Journal:
    events = (
        Event(ORIGIN + 0.5, "redis", "probe", True, 0.001, "PONG", wall=WALL + 0.5),
        Event(ORIGIN + 3.25, "redis", "probe", False, None, "refused", wall=WALL + 3.25),
    )
    faults = (
        FaultEvent("cut", "apply", ORIGIN + 2.0, WALL + 2.0, "redis down"),
        FaultEvent("cut", "heal", ORIGIN + 4.0, WALL + 4.0, "redis down"),
    )
    return Journal(
        "cut-redis", "local", "fast", "passed", WALL, WALL + 9.0, False,
        steady_state=(STEADY,), faults=faults, events=events,
        timings={"faults_start": 1.0004, "total": 9.0}, **kw,
    )  # fmt: skip


def test_the_journal_names_the_chaoslib_that_wrote_it_and_uses_iso_times(tmp_path):
    data = json.loads(_journal(clock_origin=ORIGIN).write(tmp_path / "j.json").read_text())
    assert data["chaoslib_version"] == chaoslib.__version__
    assert data["started_at"] == "2025-12-01T19:00:00.000+00:00"
    assert datetime.fromisoformat(data["ended_at"]).timestamp() == WALL + 9.0
    assert data["duration_s"] == 9.0 and data["timings"]["faults_start"] == 1.0
    assert [f["at"] for f in data["faults"]] == [
        "2025-12-01T19:00:02.000+00:00",
        "2025-12-01T19:00:04.000+00:00",
    ]
    assert data["events"][1]["at"] == "2025-12-01T19:00:03.250+00:00"
    assert "wall" not in data["events"][0] and "wall" not in data["faults"][0]


def test_every_t_in_the_journal_is_seconds_since_the_run_started(tmp_path):
    data = json.loads(_journal(clock_origin=ORIGIN).write(tmp_path / "j.json").read_text())
    assert [f["t"] for f in data["faults"]] == [2.0, 4.0]
    assert [e["t"] for e in data["events"]] == [0.5, 3.25]


def test_without_a_recorded_origin_the_faults_wall_times_give_it(tmp_path):
    journal = _journal()  # a journal from a runner that does not record its clock's origin
    assert journal.origin == pytest.approx(ORIGIN)
    assert journal.since_start(ORIGIN + 4.0) == 4.0


def test_the_steady_state_after_the_faults_is_in_both_journals(tmp_path):
    after = Verdict("steady", "fail", 1, 0, "items", "g7 on two workers")
    journal = _journal(clock_origin=ORIGIN, steady_state_after=(after,))
    data = json.loads(journal.write(tmp_path / "j.json").read_text())
    assert [v["status"] for v in data["steady_state"]] == ["pass"]
    assert [(v["status"], v["evidence"]) for v in data["steady_state_after"]] == [
        ("fail", "g7 on two workers")
    ]
    result = SuiteResult(load_profile("local"), "fast", "", tmp_path, [journal], WALL, WALL + 10)
    suite = json.loads(write_reports(result, tmp_path / "out")["journal"].read_text())
    [scenario] = suite["scenarios"]
    assert [v["evidence"] for v in scenario["steady_state_after"]] == ["g7 on two workers"]
    assert suite["chaoslib_version"] == chaoslib.__version__
    assert suite["started_at"] == "2025-12-01T19:00:00.000+00:00"
    assert [f["t"] for f in scenario["faults"]] == [2.0, 4.0]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "after the faults: steady" in html


def _modes(*paths) -> set[int]:
    return {stat.S_IMODE(os.stat(p).st_mode) for p in paths}


@pytest.fixture
def umask():
    def set_to(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_to
    os.umask(old)


def test_every_report_file_is_0644_under_the_usual_umask(tmp_path, umask):
    umask(0o022)
    journal = _journal(clock_origin=ORIGIN)
    result = SuiteResult(load_profile("local"), "fast", "", tmp_path, [journal], WALL, WALL + 10)
    paths = write_reports(result, tmp_path / "suite")
    details = list((tmp_path / "suite" / "scenarios").iterdir())
    run = write_run_reports(journal, tmp_path / "run")
    assert len(details) == 1
    assert _modes(*paths.values(), *details, *run.values()) == {0o644}


def test_report_files_honour_a_stricter_umask(tmp_path, umask):
    umask(0o077)
    paths = write_run_reports(_journal(clock_origin=ORIGIN), tmp_path / "run")
    assert _modes(*paths.values()) == {0o600}
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")] == []


def _history() -> History:
    h = History()
    h.add(Event(ORIGIN + 0.2, "redis", "probe", True))
    h.add(Event(ORIGIN + 4.0, "cut", "fault", True, "heal", "redis down"))
    h.add(Event(ORIGIN + 4.5, "redis", "probe", False))
    return h


def _answers(e: Event) -> bool:
    return e.source == "redis" and e.ok is True


def test_a_check_evidence_says_when_in_the_run_not_a_raw_clock_reading():
    never = checks.eventually(_history(), _answers, 1.0, after=ORIGIN + 4.0, origin=ORIGIN)
    assert never.status == "fail"
    assert never.evidence == "no matching event in the 1s after cut was healed (4.00s into the run)"
    late = checks.eventually(_history(), _answers, 1.0, after=ORIGIN + 3.0)
    assert late.evidence == "no matching event in the 1s after 2.80s after the first observation"
    seen = checks.log_seen(_history(), "nothing", 1.0, after=ORIGIN + 1.0, origin=ORIGIN)
    assert "1.00s into the run" in seen.evidence
    for v in (never, late, seen):
        assert not re.search(r"t=|5\d{3}\.", v.evidence), v.evidence


# -- a real run: the runner's journal, on the real stack ------------------------------


@pytest.fixture
def redis_url(chaos_stack, toxiproxy):
    yield chaos_stack.link_urls()["redis"]["url"]
    toxiproxy.reset()


def test_a_real_runs_journal_counts_from_its_start(redis_url, toxiproxy, tmp_path):
    exp = Experiment("cut-redis", steady_for=0.3, observe_after=0.5)
    exp.observers = [redis_ping(redis_url, name="redis", interval=0.05, deadline=1)]
    exp.add("cut", Link("redis", toxiproxy).down(), schedule.once(0.2, 0.4))
    exp.checks = [
        lambda run: checks.eventually(
            run.history, lambda e: e.source == "nobody", 0.2,
            after=run.healed_at("cut"), origin=run.started, name="never happens",
        )
    ]  # fmt: skip
    journal = exp.run()
    data = json.loads(journal.write(tmp_path / "journal.json").read_text())
    duration = data["duration_s"]
    apply, heal = (f["t"] for f in data["faults"])
    assert 0.4 < apply < heal < duration, data["faults"]  # after the 0.3s steady state
    assert heal - apply == pytest.approx(0.4, abs=0.25)
    assert all(-0.05 <= e["t"] <= duration + 0.05 for e in data["events"])
    [check] = data["checks"]
    found = re.fullmatch(r"no matching event in the 0\.2s after cut was healed \((.*)s into the run\)",
                         check["evidence"])  # fmt: skip
    assert found, check["evidence"]
    assert float(found.group(1)) == pytest.approx(heal, abs=0.01)
    assert datetime.fromisoformat(data["started_at"]).utcoffset().total_seconds() == 0
