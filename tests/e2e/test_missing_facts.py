"""A profile that leaves facts out: the checks that need them say *unknown* and name the
missing key, every other check still passes, and the suite is inconclusive, never a pass
and never a false failure. The courier fleet's own profile, with four contract facts cut,
each touching other checks. The static plan (``--check``) is held against the real run.

Without Node.js these tests skip; with CHAOS_NODE_TESTS=1 a missing Node.js fails them.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from chaoslib.profiles import load_profile
from chaoslib.profiles.contract import AlertSinks, SignalsDef
from chaoslib.scenarios.suite import Suite, SuiteConfig
from tests.helpers import run_invoke

COURIER = Path(__file__).resolve().parents[2] / "examples" / "courier"
PROFILE = COURIER / "courier.yml"

REMOVED = ("signals", "alert_sinks", "heartbeat.metrics", "state_store.rows")

# (scenario, check key) -> the missing key its evidence must name: read off the checks in
# chaoslib/scenarios, then confirmed by a run. shard-restart has none: its resync check reads
# the reconnect counter only where the heartbeat declares one.
EXPECTED = {
    ("redis-restart", "message_loss"): "contract.signals",
    ("redis-restart", "alert:redis_connectivity"): "contract.alert_sinks",
    ("shard-crash", "coverage"): "contract.state_store.rows",
    ("db-drop", "alert:database_connectivity"): "contract.alert_sinks",
    ("db-drop", "alert_file:database_connectivity"): "contract.alert_sinks",
    ("db-drop", "db_recovered"): "contract.state_store.rows",
    ("all-shards-dead", "alert:all_workers_unhealthy"): "contract.alert_sinks",
    ("all-shards-dead", "alert_file:all_workers_unhealthy"): "contract.alert_sinks",
    ("all-shards-dead", "rate_limit"): "contract.alert_sinks",
    ("zombie-cleanup", "zombie"): "contract.state_store.rows",
    ("orchestrator-partition", "message_loss"): "contract.signals",
    ("load-failure", "items_resume"): "contract.state_store.rows",
    ("load-failure", "message_loss"): "contract.signals",
    ("db-slow", "retry_rate"): "contract.heartbeat.metrics",
    ("db-slow", "db_stats"): "contract.heartbeat.metrics",
    # It asks for the writes_ok counter before the rows, so the metrics are what it names.
    ("db-slow", "writes_kept"): "contract.heartbeat.metrics",
}
# Checks that --check calls runnable although a real run finds them unknown. A fail needs no rows here (the worker kept the item), so only a pass asks for them: a
# static plan, which sees no data, cannot tell that this check will need the query.
PLAN_BLIND = {("zombie-cleanup", "zombie")}


def without_facts(where: Path) -> Path:
    """courier.yml with the REMOVED contract keys cut, written to ``where``."""
    doc = yaml.safe_load(PROFILE.read_text())
    for dotted in REMOVED:
        *parents, last = dotted.split(".")
        section = doc["contract"]
        for name in parents:
            section = section[name]
        del section[last]
    for service in doc["services"].values():
        # The commands name files relative to the profile's directory, which the copy is not in.
        service["cwd"] = str(COURIER)
    path = where / "courier-without-facts.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_copy_lacks_exactly_the_removed_facts(tmp_path):
    original = load_profile(str(PROFILE)).contract
    cut = load_profile(str(without_facts(tmp_path))).contract
    assert cut == dataclasses.replace(
        original,
        signals=SignalsDef(),
        sinks=AlertSinks(),
        heartbeat=dataclasses.replace(original.heartbeat, metrics={}),
        state_rows="",
    )
    assert original.signals.stream and original.sinks.file_format and original.state_rows
    assert original.heartbeat.metrics


@pytest.mark.slow
def test_a_run_without_facts_is_inconclusive_on_exactly_the_checks_that_need_them(node, tmp_path):
    config = SuiteConfig(
        profile=str(without_facts(tmp_path)), report_dir=tmp_path / "reports", home=tmp_path
    )
    result = Suite(config).run()
    assert result.error is None, result.error
    assert len(result.journals) == 10
    verdicts = {(j.experiment, v.details["key"]): v for j in result.journals for v in j.verdicts}
    failed = {k: v.evidence for k, v in verdicts.items() if v.status == "fail"}
    assert not failed
    unknown = {k: v.evidence for k, v in verdicts.items() if v.status == "unknown"}
    assert set(unknown) == set(EXPECTED), (set(unknown) ^ set(EXPECTED), unknown)
    for check, fact in EXPECTED.items():
        assert unknown[check].startswith("the profile declares no"), (check, unknown[check])
        assert fact in unknown[check], (check, unknown[check])
    passed = {k for k, v in verdicts.items() if v.status == "pass"}
    assert passed == set(verdicts) - set(EXPECTED)
    for journal in result.journals:
        touched = any(s == journal.experiment for s, _ in EXPECTED)
        assert journal.status == ("inconclusive" if touched else "passed"), journal.experiment
    assert result.status == "inconclusive"


SCENARIO = re.compile(r"^(\S+)(?: \(guide test \d+\))?: ")
CHECK = re.compile(r"^ {4}(unknown|can run) {2}(\S+) +(.*)$")


def planned_checks(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(scenario, check key) -> ("unknown" or "can run", the rest of the line), from --check."""
    found, scenario = {}, ""
    for line in text.splitlines():
        if head := SCENARIO.match(line):
            scenario = head.group(1)
        elif check := CHECK.match(line):
            found[(scenario, check.group(2))] = (check.group(1), check.group(3))
    return found


def test_the_static_plan_predicts_the_same_unknown_checks_as_the_run(node, tmp_path):
    proc = run_invoke(
        tmp_path / "home", "chaos.suite", "--profile", str(without_facts(tmp_path)), "--check"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    planned = planned_checks(proc.stdout)
    unknown = {k: line for k, (status, line) in planned.items() if status == "unknown"}
    assert set(unknown) == set(EXPECTED) - PLAN_BLIND, set(unknown) ^ (set(EXPECTED) - PLAN_BLIND)
    for check, line in unknown.items():
        assert "the profile declares no" in line and EXPECTED[check] in line, (check, line)
    assert f"{len(unknown)} will be unknown" in proc.stdout
    assert {planned[k][0] for k in PLAN_BLIND} == {"can run"}  # the gap only a run closes
