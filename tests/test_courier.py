"""The second system under test (examples/courier, Node.js) through its own profile: the
suite passes clean, and each flaw fails exactly the scenarios that need the behaviour it
removes, on the check that names it, with no false alarm on a scenario it does not touch.

Without Node.js these tests skip with that reason; CI sets CHAOS_NODE_TESTS=1, which
makes a missing Node.js a failure instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from chaoslib.suite import Suite, SuiteConfig

COURIER = Path(__file__).resolve().parent.parent / "examples" / "courier"
PROFILE = str(COURIER / "courier.yml")

# flaw -> ({scenario: (the check that must fail, words its evidence must contain)}, control)
CASES = {
    "exact-backoff": ({"redis-restart": ("backoff", "no jitter seen")}, "shard-restart"),
    "single-write": ({"db-slow": ("retry_rate", "gave up")}, "shard-restart"),
    "deaf-after-redial": (
        {"redis-restart": ("subscriptions", "not listening")},
        "shard-restart",
    ),
    "keep-lost-parcels": ({"shard-crash": ("reassign", "never reached south")}, "shard-restart"),
    "silent-alarms": (
        {"db-drop": ("alert:database_connectivity", "no store-unreachable alert")},
        "shard-restart",
    ),
}


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CHAOS_NODE_TESTS") == "1":
            pytest.fail("CHAOS_NODE_TESTS=1 but node is not on PATH")
        pytest.skip("Node.js is not installed: examples/courier needs node and npm")
    if not (COURIER / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--silent"], cwd=COURIER, check=True, timeout=300)
    return found


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
@pytest.mark.parametrize("flaw", sorted(CASES))
def test_a_flaw_fails_its_scenarios_on_the_check_that_names_it(node, tmp_path, flaw):
    expected, control = CASES[flaw]
    result = run(tmp_path, only=",".join([*expected, control]), fragile=flaw)
    assert result.error is None, result.error
    by_name = {j.experiment: j for j in result.journals}
    assert by_name["steady-state"].status == "passed"
    assert by_name[control].status == "passed", [
        (v.name, v.evidence) for v in by_name[control].verdicts if not v.passed
    ]
    for scenario, (key, words) in expected.items():
        assert by_name[scenario].status == "failed", scenario
        verdict = result.verdict(scenario, key)
        assert verdict is not None and verdict.status == "fail", (scenario, verdict)
        assert words in verdict.evidence, (scenario, verdict.evidence)


def test_every_flaw_the_profile_names_is_one_the_fleet_accepts(node):
    from chaoslib.profile import load_profile

    flaws = load_profile(PROFILE).fragile
    proc = subprocess.run(
        [node, "dispatch.js"], cwd=COURIER, env={**os.environ, "FLEET_FLAWS": "typo"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    accepted = proc.stderr.split("accepted:", 1)[1]
    assert all(flaw in accepted for flaw in flaws), (flaws, accepted)
