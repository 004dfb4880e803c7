"""Every scenario can fail: each FRAGILE flag removes one behaviour from the reference
system, the scenarios that need it fail with a check that names what is missing,
and a scenario that does not need it still passes."""

from __future__ import annotations

import pytest

from chaoslib.profiles import load_profile
from chaoslib.scenarios import SCENARIOS
from chaoslib.scenarios.suite import Suite, SuiteConfig

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


# The flags run in two suite runs, not six: a group's flags break disjoint scenarios, and
# its control is a scenario none of them may break, so no flag can hide another's failure.
GROUPS = {
    "no-reconnect,no-reassign,no-zombie-cleanup,no-db-retry": "shard-restart",
    "sticky-restart,no-alerts": "zombie-cleanup",
}


def test_the_groups_run_every_flag_once_and_no_flag_hides_another():
    flags = [flag for group in GROUPS for flag in group.split(",")]
    assert sorted(flags) == sorted(CASES)
    for group, control in GROUPS.items():
        broken = [scenario for flag in group.split(",") for scenario in CASES[flag][0]]
        assert len(broken) == len(set(broken)), group  # each scenario judges one flag
        assert control not in broken, group
        for flag in group.split(","):  # the control is one the flag is known not to break
            assert flag not in SCENARIOS[control].breaks_with, (flag, control)


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_fragile_flags_fail_their_scenarios_and_only_those(tmp_path, group):
    control = GROUPS[group]
    expected = {s: check for flag in group.split(",") for s, check in CASES[flag][0].items()}
    only = ",".join([*expected, control])
    result = Suite(
        SuiteConfig(only=only, fragile=group, report_dir=tmp_path / "reports", home=tmp_path)
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
