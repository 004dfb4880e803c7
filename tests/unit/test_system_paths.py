"""What a system tells its services about files is absolute: they run from their own
directory, not from where the user typed the command."""

from __future__ import annotations

from pathlib import Path

from chaoslib.profiles import load_profile
from chaoslib.target.system import SystemBase


def test_a_relative_run_directory_reaches_the_services_as_an_absolute_path(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    system = SystemBase(load_profile("local"), "fast", Path("reports/run-1"))
    env = system.chaos_vars(next(iter(system.profile.services)))
    assert env["CHAOS_ALERT_FILE"] == str(tmp_path / "reports" / "run-1" / "alerts.log")
    assert env["CHAOS_REPORT_DIR"] == str(tmp_path / "reports" / "run-1")
    assert system.alert_log == tmp_path / "reports" / "run-1" / "alerts.log"
