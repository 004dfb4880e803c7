"""Reports of a suite run: journal.json for tools, junit.xml for CI servers, report.html for people."""

from __future__ import annotations

from pathlib import Path

from chaoslib.reports.html import write_html
from chaoslib.reports.journal import suite_json, write_journal
from chaoslib.reports.junit import write_junit
from chaoslib.suite import SuiteResult


def write_reports(result: SuiteResult, directory: Path | None = None) -> dict[str, Path]:
    """All three reports, plus each scenario's full journal (every event) under scenarios/."""
    out = Path(directory or result.report_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "journal": write_journal(result, out / "journal.json"),
        "junit": write_junit(result, out / "junit.xml"),
        "html": write_html(result, out / "report.html"),
    }


__all__ = ["suite_json", "write_reports"]
