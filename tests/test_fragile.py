"""Every scenario can fail: each FRAGILE flag removes one behaviour from the reference
system, the scenarios that need it fail with a check that names what is missing,
and a scenario that does not need it still passes."""

from __future__ import annotations

import pytest

from chaoslib.profile import load_profile
from chaoslib.scenarios import SCENARIOS
from chaoslib.suite import Suite, SuiteConfig

# flag -> {scenario: (the check that must fail, words its evidence must contain)}, control
CASES = {
    "no-reconnect": (
        {
            "redis-restart": ("reconnect", "never happened"),
            "orchestrator-partition": ("resubscribed", "never subscribed again"),
            "load-failure": ("reconnect", "never happened"),
        },
        "shard-restart",
    ),
    "no-reassign": ({"shard-crash": ("reassign", "never reached shard_02")}, "shard-restart"),
    "no-zombie-cleanup": ({"zombie-cleanup": ("zombie", "kept monitoring")}, "shard-restart"),
    "no-db-retry": ({"db-slow": ("retry_rate", "gave up")}, "shard-restart"),
    "sticky-restart": (
        {"shard-restart": ("restart_detected", "every heartbeat looks like a restart")},
        "zombie-cleanup",
    ),
    "no-alerts": (
        {
            "redis-restart": ("alert:redis_connectivity", "no RedisConnectivityIssue alert"),
            "db-drop": ("alert:database_connectivity", "no DatabaseConnectivityIssue alert"),
            "all-shards-dead": ("alert:all_workers_unhealthy", "no AllShardsUnhealthy alert"),
        },
        "shard-restart",
    ),
}


def test_every_flag_of_the_profile_is_proven_and_matches_the_scenario_table():
    assert sorted(CASES) == sorted(load_profile("local").fragile)
    for flag, (expected, _control) in CASES.items():
        assert {n for n, s in SCENARIOS.items() if flag in s.breaks_with} == set(expected), flag


@pytest.mark.parametrize("flag", sorted(CASES))
def test_a_fragile_flag_fails_its_scenarios_and_only_those(tmp_path, flag):
    expected, control = CASES[flag]
    only = ",".join([*expected, control])
    result = Suite(
        SuiteConfig(only=only, fragile=flag, report_dir=tmp_path / "reports", home=tmp_path)
    ).run()
    assert result.error is None, result.error
    assert result.status == "failed"
    by_name = {j.experiment: j for j in result.journals}
    assert by_name["steady-state"].status == "passed"
    assert by_name[control].status == "passed", [
        (v.name, v.evidence) for v in by_name[control].verdicts if not v.passed
    ]
    for scenario, (key, words) in expected.items():
        journal = by_name[scenario]
        assert journal.status == "failed", scenario
        verdict = result.verdict(scenario, key)
        assert verdict is not None and verdict.status == "fail", (scenario, verdict)
        assert words in verdict.evidence, (scenario, verdict.evidence)
