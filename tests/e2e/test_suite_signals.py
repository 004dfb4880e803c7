"""The suite never leaves a fault or a process behind: not on SIGTERM mid-fault, and after a
SIGKILL, ``invoke chaos.reset`` cleans what is left. Counted from the outside."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from chaoslib.faults.ledger import Ledger
from chaoslib.wait import wait_until
from tests.helpers import REPO, pid_alive, run_invoke, subprocess_env


def _start(home: Path, reports: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "chaos.scenario", "db-drop", "--report-dir", str(reports)],
        cwd=REPO,
        env=subprocess_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stack_pids(home: Path) -> list[int]:
    state = json.loads((home / "suite" / "stack.json").read_text())
    return [s["handle"]["pid"] for s in state["services"].values() if s.get("handle")]


def _system_pids(reports: Path) -> list[int]:
    """The reference system's processes of this run (their alert log is in our report dir)."""
    mine = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "examples.arbees" in " ".join(proc.info["cmdline"] or []) and str(reports) in (
                proc.environ().get("ALERT_LOG_PATH", "")
            ):
                mine.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return mine


def _wait_for_the_fault(home: Path, proc: subprocess.Popen, reports: Path) -> list[int]:
    ledger = Ledger(home / "suite")
    wait_until(
        lambda: ledger.entries() or proc.poll() is not None,
        timeout=90,
        what="the db-drop fault to be applied",
    )
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    system = _system_pids(reports)
    assert len(system) == 4  # orchestrator, two shards, signals
    return system


def test_sigterm_mid_fault_heals_stops_everything_and_still_reports(tmp_path):
    reports = tmp_path / "reports"
    proc = _start(tmp_path, reports)
    system = _wait_for_the_fault(tmp_path, proc, reports)
    stack = _stack_pids(tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out[-3000:]  # 128 + SIGTERM, as a shell reports it
    assert Ledger(tmp_path / "suite").entries() == []
    alive = [p for p in stack + system if pid_alive(p)]
    assert alive == [], alive
    data = json.loads((reports / "journal.json").read_text())
    assert data["status"] == "interrupted"
    db_drop = next(s for s in data["scenarios"] if s["name"] == "db-drop")
    assert db_drop["status"] == "interrupted"
    assert [f["action"] for f in db_drop["faults"]] == ["apply", "heal"]


def test_after_a_sigkill_reset_cleans_the_suites_leftovers(tmp_path):
    reports = tmp_path / "reports"
    proc = _start(tmp_path, reports)
    system = _wait_for_the_fault(tmp_path, proc, reports)
    stack = _stack_pids(tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    # Owned processes die with their owner (parent-death signal) ...
    wait_until(lambda: not any(pid_alive(p) for p in stack + system), timeout=30, what="orphans")
    assert Ledger(tmp_path / "suite").entries() != []  # ... but the ledger outlives a SIGKILL
    reset = run_invoke(tmp_path, "chaos.reset")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "suite leftovers" in reset.stdout
    assert Ledger(tmp_path / "suite").entries() == []
    again = run_invoke(tmp_path, "chaos.reset")
    assert "suite leftovers" not in again.stdout
