"""``chaos run FILE`` (its three reports), ``--dry-run`` (a plan, nothing applied), ``validate``."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET

import pytest

from chaoslib.faults.ledger import Ledger
from chaoslib.services.stack import Stack
from chaoslib.toxiproxy.client import Toxiproxy
from tests.e2e.test_service_tasks import chaos
from tests.helpers import REPO

PARTITION = REPO / "experiments" / "redis-partition-under-load.yml"
FLAP = REPO / "experiments" / "redis-flap-while-db-slow.yml"


@pytest.fixture(scope="module")
def home(stack_home):
    return stack_home


def untouched(home) -> bool:
    proxies = Toxiproxy(Stack.load(home).proxy_url).proxies().values()
    return all(p.enabled and not p.toxics for p in proxies) and Ledger(home).entries() == []


def test_run_writes_the_journal_junit_and_html_reports(home, tmp_path):
    out = tmp_path / "reports"
    result = chaos(home, "run", str(PARTITION), "--report-dir", str(out), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "passed"
    assert {c["name"] for c in journal["checks"]} >= {"stream: no lost or duplicated messages"}
    suite = ET.parse(out / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) >= 3 and not suite.findall(".//failure")
    assert "redis-partition-under-load" in (out / "report.html").read_text()
    for name in ("journal.json", "junit.xml", "report.html"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) & 0o044 == 0o044  # others can read
    assert f"reports: {out / 'journal.json'}" in " ".join(result.stdout.split())
    assert untouched(home)


def test_journal_flag_puts_the_journal_there_and_the_others_beside_it(home, tmp_path):
    path = tmp_path / "here" / "mine.json"
    result = chaos(home, "run", str(PARTITION), "--journal", str(path), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(path.read_text())["status"] == "passed"
    assert (path.parent / "junit.xml").is_file() and (path.parent / "report.html").is_file()
    assert not (path.parent / "journal.json").exists()


def test_dry_run_prints_the_plan_and_applies_nothing(home):
    result = chaos(home, "run", str(FLAP), "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "plan for redis-flap-while-db-slow: steady state 1s" in out
    assert "db-slow: latency(latency=300, jitter=50) on timescaledb [downstream]" in out
    assert "holds 500ms–1s (500ms); 1.7s–2.2s (500ms); 2.9s–3.4s (500ms)" in out
    assert "observers (3):" in out and "signals: stream_workload on redis" in out
    assert "checks (3):" in out and "no_loss (workload: signals)" in out
    assert "dry run: nothing applied (checked against the running stack)" in out
    assert "steady state (" not in out  # no phase of a run began
    assert untouched(home)


def test_dry_run_without_a_stack_checks_the_file_and_says_what_it_could_not(tmp_path):
    result = chaos(tmp_path / "empty", "run", str(PARTITION), "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "partition: partition on ['redis'] (at: 0.5, for: 2)" in result.stdout
    assert "links and services not checked: No stack is running" in " ".join(result.stdout.split())


def test_validate_a_good_file(home):
    result = chaos(home, "validate", str(PARTITION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"valid: {PARTITION} (1 faults, 3 observers, 3 checks" in " ".join(result.stdout.split())
    assert untouched(home)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("name: x\nfaults:\n  - {name: a, type: down, link: nope, for: 1}\n", 3,
         "faults[0].link: unknown link 'nope'"),
        ("name: x\nfaults:\n  - {name: a, type: down, link: redis, at: .nan, for: 1}\n", 3,
         "faults[0].at:"),
        ("name: x\nfaults: []\n", 2, "faults: must list at least one entry"),
    ],
)  # fmt: skip
def test_validate_and_dry_run_refuse_a_bad_file_with_its_line(home, tmp_path, body, line, message):
    bad = tmp_path / "bad.yml"
    bad.write_text(body)
    for args in (["validate", str(bad)], ["run", str(bad), "--dry-run"]):
        result = chaos(home, *args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{bad}:{line}: {message}" in result.stderr
    assert untouched(home)


def test_run_needs_a_stack_and_says_how_to_start_one(tmp_path):
    result = chaos(tmp_path / "empty", "run", str(PARTITION))
    assert result.returncode == 2
    assert "No stack is running" in result.stderr
