"""junit.xml tells a CI server the truth: an aborted run is red, each failure is counted
once, and every testcase carries the time it covered. Journals are built here (no servers):
the renderer is what is under test."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from chaoslib.experiment.checks import Verdict
from chaoslib.experiment.journal import Journal
from chaoslib.profiles import load_profile
from chaoslib.reports import write_reports, write_run_reports
from chaoslib.scenarios.suite import SuiteResult

STEADY = Verdict("steady", "pass", 0, 0, "items", "every item on one worker", {"key": "steady"})
DEAD = Verdict("marked dead", "pass", 31.0, 65, "s", "after 31s", {"key": "mark_dead"})
NOT_REASSIGNED = Verdict(
    "games reassigned", "fail", None, 10, "s", "never reached shard_02", {"key": "reassign"}
)
TIMINGS = {"faults_start": 4.0, "total": 40.0}


def _journal(name: str, status: str, *verdicts: Verdict, error: str | None = None, **kw) -> Journal:
    return Journal(
        name, "local", "fast", status, 100.0, 141.5, False,
        steady_state=kw.pop("steady", (STEADY,)), verdicts=verdicts, error=error,
        timings=kw.pop("timings", TIMINGS), **kw,
    )  # fmt: skip


def _junit(tmp_path, *journals: Journal, **kw) -> ET.Element:
    result = SuiteResult(
        load_profile("local"), "fast", "", tmp_path, list(journals), 100.0, 160.0, **kw
    )
    return ET.parse(write_reports(result, tmp_path / "out")["junit"]).getroot()


def _totals(root: ET.Element) -> tuple[str | None, ...]:
    return tuple(root.get(k) for k in ("tests", "failures", "errors", "skipped"))


def test_a_suite_that_aborts_before_any_scenario_is_an_error_with_its_reason(tmp_path):
    reason = "StackError: redis-server did not answer within 10s"
    root = _junit(tmp_path, error=reason)
    [error] = root.iter("error")
    assert reason in error.get("message") and error.get("type") == "aborted"
    assert _totals(root) == ("1", "0", "1", "0")  # red; not "failures=0 skipped=33"
    assert root.findall(".//skipped") == []


def test_an_interrupted_suite_is_an_error_that_says_so(tmp_path):
    root = _junit(
        tmp_path,
        _journal("redis-restart", "passed", DEAD),
        error="interrupted (SIGTERM); every fault was healed",
        interrupted=True,
    )
    [error] = root.iter("error")
    assert error.get("type") == "interrupted" and "SIGTERM" in error.get("message")
    assert _totals(root) == ("3", "0", "1", "0")


def test_an_aborted_scenario_is_one_error_carrying_its_reason(tmp_path):
    deviated = Verdict("steady", "fail", 2, 0, "items", "shard_01 and shard_02 both hold g1")
    aborted = _journal(
        "shard-crash", "aborted", steady=(deviated,),
        error="the steady state did not hold before any fault",
    )  # fmt: skip
    root = _junit(tmp_path, _journal("redis-restart", "passed", DEAD), aborted)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    [error] = suites["shard-crash"].iter("error")
    assert "the steady state did not hold" in error.get("message")
    assert error.get("type") == "aborted"
    # The steady state's own failure is its testcase; the abort is the run's: one each.
    assert _totals(suites["shard-crash"]) == ("2", "1", "1", "0")
    assert _totals(root) == ("4", "1", "1", "0")


def test_a_scenario_interrupted_mid_suite_is_reported_once(tmp_path):
    stopped = _journal("shard-crash", "interrupted", error="SIGINT")
    root = _junit(tmp_path, _journal("redis-restart", "passed", DEAD), stopped, interrupted=True)
    [error] = root.iter("error")  # the scenario's; the suite adds no second one
    assert error.get("type") == "interrupted" and "SIGINT" in error.get("message")


def test_one_failed_check_is_one_failure_in_the_whole_file(tmp_path):
    """It backs a checklist line and a performance line; each was a failing testcase too."""
    root = _junit(tmp_path, _journal("shard-crash", "failed", DEAD, NOT_REASSIGNED))
    assert len(root.findall(".//failure")) == 1
    assert _totals(root) == ("3", "1", "0", "0")
    assert sum(int(s.get("failures")) for s in root.iter("testsuite")) == 1
    [failed] = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed.get("name") == "games reassigned"
    assert "never reached shard_02" in failed.find("failure").get("message")
    criteria = [p.get("value") for p in failed.iter("property")]
    assert criteria == [
        "Games automatically reassigned to healthy shards",
        "Game reassignment time: < 10 seconds",
    ]
    # The checklist still says which lines failed, as properties of a suite with no cases.
    checklist = next(s for s in root.iter("testsuite") if s.get("name").startswith("Success"))
    lines = {p.get("name"): p.get("value") for p in checklist.iter("property")}
    assert lines["Games automatically reassigned to healthy shards"].startswith("fail")
    assert lines["Restart detection works reliably"].startswith("not run")
    assert checklist.findall("testcase") == [] and checklist.get("tests") == "0"


def test_every_testcase_carries_the_time_its_check_covered(tmp_path):
    root = _junit(tmp_path, _journal("shard-crash", "failed", DEAD, NOT_REASSIGNED))
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "shard-crash")
    times = {c.get("name"): float(c.get("time")) for c in suite.iter("testcase")}
    # The steady state judged the quiet period; the checks the faults and the recovery.
    assert times == {"steady": 4.0, "marked dead": 36.0, "games reassigned": 36.0}
    assert float(suite.get("time")) == pytest.approx(41.5)
    assert suite.get("timestamp", "").endswith("+00:00")
    assert float(root.get("time")) == pytest.approx(60.0)


def test_a_journal_without_timings_uses_its_duration(tmp_path):
    root = _junit(tmp_path, _journal("shard-crash", "passed", DEAD, timings={}))
    times = [float(c.get("time")) for c in root.iter("testcase")]
    assert times == [pytest.approx(41.5)] * 2


def test_every_count_is_what_the_file_holds(tmp_path):
    unknown = Verdict("no signal lost", "unknown", None, 0, "messages", "no stream declared")
    root = _junit(
        tmp_path,
        _journal("redis-restart", "inconclusive", DEAD, unknown),
        _journal("shard-crash", "failed", DEAD, NOT_REASSIGNED),
        _journal("db-drop", "aborted", error="RuntimeError: psql exited 2"),
        error="RuntimeError: reset failed",
    )
    for s in [root, *root.iter("testsuite")]:
        path = "testcase" if s.tag == "testsuite" else "testsuite/testcase"
        for count, child in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            assert int(s.get(count)) == len(s.findall(f"{path}/{child}")), (s.get("name"), count)
        assert int(s.get("tests")) == len(s.findall(path))
    assert _totals(root) == ("9", "1", "2", "1")


def test_chaos_run_writes_one_testsuite_for_its_experiment(tmp_path):
    journal = _journal("cut-redis", "failed", DEAD, NOT_REASSIGNED)
    paths = write_run_reports(journal, tmp_path / "run")
    root = ET.parse(paths["junit"]).getroot()
    assert [s.get("name") for s in root.iter("testsuite")] == ["cut-redis"]
    assert _totals(root) == ("3", "1", "0", "0")
    assert "games reassigned" in paths["html"].read_text()
    assert paths["journal"].name == "journal.json"
