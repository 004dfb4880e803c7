"""Checks judge histories; each returns pass, fail or unknown, never raises."""

from __future__ import annotations

from chaoslib.experiment import checks
from chaoslib.observe.history import Event, History
from chaoslib.observe.workloads import WorkloadResult


def history_of(*events: tuple[float, str, bool | None]) -> History:
    history = History()
    for t, source, ok in events:
        history.add(Event(t, source, "probe", ok))
    return history


def test_recovered_within_measures_time_to_recover_and_to_detect():
    h = history_of((0.0, "p", True), (1.1, "p", False), (1.2, "p", False), (3.4, "p", True))
    v = checks.recovered_within(h, "p", 1.0, healed_at=3.0, fault_at=1.0)
    assert v.status == "pass"
    assert v.measured == 0.4
    assert v.details["time_to_detect_s"] == 0.1


def test_recovered_within_fails_when_too_slow_or_never():
    h = history_of((0.0, "p", True), (5.0, "p", True))
    assert checks.recovered_within(h, "p", 1.0, healed_at=3.0).status == "fail"
    never = history_of((0.0, "p", True), (4.0, "p", False))
    v = checks.recovered_within(never, "p", 1.0, healed_at=3.0)
    assert v.status == "fail" and v.measured is None


def test_eventually_and_never():
    h = history_of((1.0, "a", False), (2.5, "a", True))
    assert checks.eventually(h, lambda e: e.ok is True, 2.0, after=1.0).status == "pass"
    assert checks.eventually(h, lambda e: e.ok is True, 1.0, after=1.0).status == "fail"
    assert checks.never(h, lambda e: e.ok is False, (0, 2)).status == "fail"
    assert checks.never(h, lambda e: e.ok is False, (2, 3)).status == "pass"


def test_count_compares_exactly():
    h = history_of((1, "a", True), (2, "a", True))
    assert checks.count(h, lambda e: e.ok, 2).status == "pass"
    assert checks.count(h, lambda e: e.ok, 1).measured == 2


def test_no_loss_reports_lost_duplicated_and_reordered():
    result = WorkloadResult(
        "w",
        acked=(1, 2, 3, 4),
        failed=(5,),
        unknown=(6,),
        received=(1, 3, 2, 3, 6),
        failure_times=(1.0, 2.5),
    )
    v = checks.no_loss(result)
    assert v.status == "fail"
    assert v.details["lost"] == 1 and v.details["lost_sample"] == [4]
    assert v.details["duplicated"] == 1
    assert v.details["reordered"] == 1
    assert v.details["unavailable_s"] == 1.5


def test_no_loss_passes_when_every_ack_arrives_once():
    result = WorkloadResult(
        "w", acked=(1, 2), failed=(), unknown=(3,), received=(1, 2), failure_times=()
    )
    assert checks.no_loss(result).status == "pass"


def test_no_loss_without_any_ack_is_unknown():
    result = WorkloadResult(
        "w", acked=(), failed=(1,), unknown=(), received=(), failure_times=(0.0,)
    )
    assert checks.no_loss(result).status == "unknown"


def test_a_check_that_errors_is_unknown_with_the_reason():
    v = checks.eventually(history_of((1, "a", True)), lambda e: 1 / 0, 1.0)
    assert v.status == "unknown"
    assert "ZeroDivisionError" in v.evidence


def test_merge_ranks_fail_over_unknown_over_pass():
    p, u, f = (checks.Verdict("x", s) for s in ("pass", "unknown", "fail"))
    assert checks.merge([p, p]) == "pass"
    assert checks.merge([p, u]) == "unknown"
    assert checks.merge([u, f, p]) == "fail"
    assert checks.merge([]) == "unknown"


def test_db_slow_scope_fails_when_non_matching_statements_failed_too():
    from chaoslib.scenarios.t09_db_slow import scope_verdict

    # matched: the writes the pg_query toxic failed; samples: the SELECT 1 probes through
    # the same link that answered (seconds); failures: those that failed.
    scoped = scope_verdict(4, [0.01, 0.02, 0.012], 0)
    assert scoped.status == "pass" and scoped.measured == 0
    assert "4 matching writes failed; 0 of 3 SELECT 1 probes" in scoped.evidence
    # A blunt fault (every statement fails, not just the writes) fails SELECT 1 as well.
    blunt = scope_verdict(4, [0.01, 0.02, 0.015], 2)
    assert blunt.status == "fail" and blunt.measured == 2
    assert "4 matching writes failed; 2 of" in blunt.evidence
    # Nothing to compare: the fault touched no write, or no probe answered or failed.
    assert scope_verdict(0, [0.01], 0).status == "unknown"
    assert scope_verdict(4, [], 0).status == "unknown"


def test_db_slow_scope_fails_when_every_select_probe_failed():
    from chaoslib.scenarios.t09_db_slow import scope_verdict

    v = scope_verdict(4, [], 5)
    assert v.status == "fail" and v.measured == 5, v


def test_db_slow_scope_evidence_counts_every_probe():
    from chaoslib.scenarios.t09_db_slow import scope_verdict

    v = scope_verdict(4, [0.01, 0.02, 0.015], 2)
    assert "2 of 5 SELECT 1 probes" in v.evidence, v.evidence


def test_a_target_with_a_tolerance_reads_as_one_not_as_a_ceiling():
    """0.504 s against a 0.5 s interval passes: the threshold must not read as a bound it broke."""
    target = checks.Verdict("interval", checks.PASS, 0.504, 0.5, "s", details={"tolerance": 0.125})
    assert target.threshold_text() == "0.5 s ± 0.125 s"
    assert checks.Verdict("t", checks.PASS, 1, 2, "s").threshold_text() == "2 s"
    assert checks.Verdict("t", checks.UNKNOWN).threshold_text() == "–"
