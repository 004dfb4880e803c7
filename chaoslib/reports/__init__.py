"""Reports of a suite run: journal.json for tools, junit.xml for CI servers, report.html for people.

The renderers are imported when called: the journal (chaoslib.experiment.journal) writes its file
through chaoslib.experiment.files, and the renderers import the journal.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoslib.experiment.journal import Journal
    from chaoslib.scenarios.suite import SuiteResult


def write_reports(result: SuiteResult, directory: Path | None = None) -> dict[str, Path]:
    """All three reports, plus each scenario's full journal (every event) under scenarios/."""
    from chaoslib.reports.html import write_html
    from chaoslib.reports.journal import write_journal
    from chaoslib.reports.junit import write_junit

    out = Path(directory or result.report_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "journal": write_journal(result, out / "journal.json"),
        "junit": write_junit(result, out / "junit.xml"),
        "html": write_html(result, out / "report.html"),
    }


def write_run_reports(journal: Journal, directory: Path) -> dict[str, Path]:
    """One experiment's reports (``chaos run``): its journal.json, junit.xml and report.html,
    the same renderers as the suite's, without the guide's checklist."""
    from chaoslib.reports.html import write_run_html
    from chaoslib.reports.junit import write_run_junit

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "journal": journal.write(out / "journal.json"),
        "junit": write_run_junit(journal, out / "junit.xml"),
        "html": write_run_html(journal, out / "report.html"),
    }


def __getattr__(name: str) -> Any:
    if name == "suite_json":
        from chaoslib.reports.journal import suite_json

        return suite_json
    raise AttributeError(name)


__all__ = ["suite_json", "write_reports", "write_run_reports"]
