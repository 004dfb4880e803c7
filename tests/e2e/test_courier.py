"""The second system under test (examples/courier, Node.js) through its own profile: the
suite passes clean, and each flaw fails exactly the scenarios that need the behaviour it
removes, on the check that names it, with no false alarm on a scenario it does not touch.
Flaws that break disjoint scenarios share one suite run, to keep CI short.

The fleet's own node tests (examples/courier/test) run here too.

Without Node.js these tests skip with that reason; CI sets CHAOS_NODE_TESTS=1, which
makes a missing Node.js a failure instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from chaoslib.scenarios.suite import Suite, SuiteConfig

COURIER = Path(__file__).resolve().parents[2] / "examples" / "courier"
PROFILE = str(COURIER / "courier.yml")

# flaw -> {scenario: (the check that must fail, words its evidence must contain)}. Each was
# found by running the flaw through all nine scenarios; the other scenarios it broke there are
# in ALSO_BREAKS, so that no run below asserts a scenario another of its flaws breaks.
CASES = {
    "exact-backoff": {"redis-restart": ("backoff", "no jitter seen")},
    "single-write": {"db-slow": ("retry_rate", "gave up")},
    "deaf-after-redial": {"redis-restart": ("subscriptions", "not listening")},
    # "; 0 reassignment lines", not just "never reached": a reassignment that dispatch did
    # log but chaoslib saw out of order would also read "never reached south".
    "keep-lost-parcels": {"shard-crash": ("reassign", "; 0 reassignment lines")},
    "silent-alarms": {"db-drop": ("alert:database_connectivity", "no store-unreachable alert")},
    "no-redial": {
        "redis-restart": ("reconnect", "a reconnect after Redis came back never happened")
    },
    "restart-blind": {"shard-restart": ("restart_detected", "the restart went unnoticed")},
    "restart-every-pulse": {
        "shard-restart": ("restart_detected", "every heartbeat looks like a restart")
    },
    "keep-zombies": {"zombie-cleanup": ("zombie", "kept monitoring")},
    "alarm-flood": {"all-shards-dead": ("rate_limit", "arrived")},
    "no-store-probe": {"db-drop": ("db_detect", "no failed health check line")},
}
ALSO_BREAKS = {
    "exact-backoff": ("orchestrator-partition",),  # the coordinator's backoff, on its own cut
    "deaf-after-redial": ("load-failure",),
    "silent-alarms": ("redis-restart", "all-shards-dead"),
    "no-redial": ("orchestrator-partition", "load-failure"),
}

# One suite run each (a run costs ~7 s plus its scenarios): flaws that break disjoint
# scenarios share a run, with a control scenario that none of its flaws touches.
RUNS = (
    (("no-redial", "restart-blind", "keep-zombies"), "db-slow"),
    (("exact-backoff", "restart-every-pulse", "alarm-flood", "no-store-probe"), "zombie-cleanup"),
    (("deaf-after-redial", "single-write"), "shard-restart"),
    (("silent-alarms", "keep-lost-parcels"), "shard-restart"),
)


def broken_by(flaw: str) -> set[str]:
    return {*CASES[flaw], *ALSO_BREAKS.get(flaw, ())}


def run(tmp_path: Path, **config: str):
    return Suite(
        SuiteConfig(profile=PROFILE, report_dir=tmp_path / "reports", home=tmp_path, **config)
    ).run()


@pytest.mark.slow
def test_the_courier_fleet_passes_the_whole_suite_through_its_own_profile(node, tmp_path):
    result = run(tmp_path)
    bad = [
        (j.experiment, v.name, v.evidence)
        for j in result.journals
        for v in j.verdicts
        if not v.passed
    ]
    assert result.status == "passed", (result.error, bad)
    assert len(result.journals) == 10


@pytest.mark.slow
@pytest.mark.parametrize(("flaws", "control"), RUNS, ids=["+".join(f) for f, _ in RUNS])
def test_a_flaw_fails_its_scenarios_on_the_check_that_names_it(node, tmp_path, flaws, control):
    expected = {s: (flaw, *case) for flaw in flaws for s, case in CASES[flaw].items()}
    result = run(tmp_path, only=",".join([*expected, control]), fragile=",".join(flaws))
    assert result.error is None, result.error
    by_name = {j.experiment: j for j in result.journals}
    assert by_name["steady-state"].status == "passed"
    assert by_name[control].status == "passed", [
        (v.name, v.evidence) for v in by_name[control].verdicts if not v.passed
    ]
    for scenario, (flaw, key, words) in expected.items():
        assert by_name[scenario].status == "failed", (flaw, scenario)
        verdict = result.verdict(scenario, key)
        assert verdict is not None and verdict.status == "fail", (flaw, scenario, verdict)
        assert words in verdict.evidence, (flaw, scenario, verdict.evidence)


def test_every_flaw_is_run_once_with_flaws_that_leave_its_scenarios_alone():
    run_flaws = [flaw for flaws, _ in RUNS for flaw in flaws]
    assert sorted(run_flaws) == sorted(CASES)
    for flaws, control in RUNS:
        assert control not in set().union(*map(broken_by, flaws)), (flaws, control)
        for flaw in flaws:
            others = set().union(*(broken_by(f) for f in flaws if f != flaw))
            assert not others & set(CASES[flaw]), (flaw, flaws)


def test_every_flaw_the_profile_names_is_one_the_fleet_accepts(node):
    from chaoslib.profiles import load_profile

    flaws = load_profile(PROFILE).fragile
    proc = subprocess.run(
        [node, "dispatch.js"], cwd=COURIER, env={**os.environ, "FLEET_FLAWS": "typo"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    accepted = proc.stderr.split("accepted:", 1)[1]
    assert all(flaw in accepted for flaw in flaws), (flaws, accepted)


def test_the_fleets_own_node_tests_pass_against_a_real_redis_server(node):
    """examples/courier/test: its pieces, its link and its scan write (those two need a
    redis-server on PATH; the one chaoslib found is put there, so none of them skips)."""
    from chaoslib.services.binaries import find_redis_server

    redis_dir = str(Path(find_redis_server().path).parent)
    proc = subprocess.run(
        [node, "--test", "test/"], cwd=COURIER, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": redis_dir + os.pathsep + os.environ["PATH"]},
    )  # fmt: skip
    summary = dict(line[2:].split(" ", 1) for line in proc.stdout.splitlines()
                   if line.startswith("# ") and line[2:].split(" ", 1)[0] in
                   ("tests", "pass", "fail", "skipped"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert summary["fail"] == "0" and summary["skipped"] == "0", summary
    assert int(summary["pass"]) >= 30, summary
