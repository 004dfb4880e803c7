"""junit.xml: one testcase per check, so that a CI page counts what the run found, once.

- A failed check is a ``<failure>``. An unknown check (a fact it needs is missing) is
  ``<skipped>`` with its reason: a CI server must count it neither as a failure nor as a pass.
- A run that did not reach its end (an aborted or interrupted scenario, or suite) is an
  ``<error>`` carrying the reason, so the page is red, never "0 failures, 33 skipped".
- The guide's checklist lines are views over the same checks: each check's testcase names
  the lines it backs (``<property name="criterion">``), and the checklist is the properties
  and text of a testsuite with no testcases. As testcases of their own they counted one
  failed check three times (the check, its checklist line, its performance line).
- A testcase's time is the span of the run its check judged: the steady state's checks the
  quiet period before the faults, the other checks the faults and the recovery after them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment.files import iso_time, write_text
from chaoslib.experiment.journal import Journal
from chaoslib.scenarios.checklist import NOT_RUN, LineResult, checklist, performance

if TYPE_CHECKING:
    from chaoslib.scenarios.suite import SuiteResult

ENDED = "the run reached its end"
UNFINISHED = ("aborted", "interrupted")
COUNTS = ("tests", "failures", "errors", "skipped")


def _case(parent: ET.Element, classname: str, name: str, seconds: float) -> ET.Element:
    return ET.SubElement(
        parent, "testcase", classname=classname, name=name, time=f"{max(0.0, seconds):.3f}"
    )


def _check_case(
    suite: ET.Element, classname: str, v: Verdict, seconds: float, criteria: list[str]
) -> None:
    case = _case(suite, classname, v.name, seconds)
    if criteria:
        props = ET.SubElement(case, "properties")
        for text in criteria:
            ET.SubElement(props, "property", name="criterion", value=text)
    figure = f"measured {v.measured} {v.unit}".rstrip() + f", threshold {v.threshold_text()}"
    if v.status == UNKNOWN:
        ET.SubElement(case, "skipped", message=v.evidence or "unknown: the check gave no reason")
    elif v.status != PASS:
        failure = ET.SubElement(case, "failure", type=v.status, message=f"{FAIL}: {v.evidence}")
        failure.text = figure
    ET.SubElement(case, "system-out").text = f"{figure}\n{v.evidence}"


def _error_case(
    suite: ET.Element, classname: str, status: str, reason: str | None, seconds: float
) -> None:
    case = _case(suite, classname, ENDED, seconds)
    message = f"{status}: {reason or 'no reason was recorded'}"
    ET.SubElement(case, "error", type=status, message=message).text = message


def _count(element: ET.Element, cases: list[ET.Element]) -> None:
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    element.set("errors", str(sum(c.find("error") is not None for c in cases)))
    element.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))


def _testsuite(parent: ET.Element, name: str, seconds: float, started: float | None) -> ET.Element:
    # The counts come first, as CI servers print them; _count fills them in.
    suite = ET.SubElement(parent, "testsuite", name=name, **dict.fromkeys(COUNTS, "0"))
    suite.set("time", f"{max(0.0, seconds):.3f}")
    if started:
        suite.set("timestamp", iso_time(started) or "")
    return suite


def journal_suite(
    root: ET.Element, journal: Journal, criteria: dict[int, list[str]] | None = None
) -> ET.Element:
    """One experiment's testsuite: its steady state's and its checks' cases, and an error
    case if it did not reach its end. ``criteria``: checklist lines by ``id(verdict)``."""
    criteria = criteria or {}
    classname = f"chaos.{journal.experiment}"
    suite = _testsuite(root, journal.experiment, journal.duration, journal.started_at)
    total = journal.timings.get("total", journal.duration)
    steady_s = journal.timings.get("faults_start")  # absent: no fault ran, or not timed
    rest_s = total if steady_s is None else total - steady_s
    steady_s = total if steady_s is None else steady_s
    for v in journal.steady_state:
        _check_case(suite, classname, v, steady_s, criteria.get(id(v), []))
    for v in journal.steady_state_after:
        _check_case(suite, f"{classname}.after", v, rest_s, criteria.get(id(v), []))
    for v in journal.verdicts:
        _check_case(suite, classname, v, rest_s, criteria.get(id(v), []))
    if journal.status in UNFINISHED:
        _error_case(suite, classname, journal.status, journal.error, journal.duration)
    elif not suite.findall("testcase"):  # nothing judged: the run itself is the one case
        _case(suite, classname, ENDED, journal.duration)
    _count(suite, suite.findall("testcase"))
    return suite


def _criteria(lines: list[LineResult]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for line in lines:
        for _, v in line.verdicts:
            found.setdefault(id(v), []).append(line.line.text)
    return found


def _checklist_suite(root: ET.Element, lines: list[LineResult]) -> None:
    suite = _testsuite(root, "Success Criteria Checklist", 0.0, None)
    props = ET.SubElement(suite, "properties")
    text = []
    for r in lines:
        status = "not run" if r.status == NOT_RUN else r.status
        value = f"{status}: {r.figure()}" + (f"; {r.evidence}" if r.status != PASS else "")
        ET.SubElement(props, "property", name=r.line.text, value=value)
        text.append(f"[{status.upper()}] {r.line.section}: {r.line.text} — {r.figure()}")
    ET.SubElement(suite, "system-out").text = "\n".join(text)


def _write(root: ET.Element, path: Path, seconds: float) -> Path:
    _count(root, root.findall("testsuite/testcase"))
    # The run's own span, not the sum of its scenarios: setup and resets take time too.
    root.set("time", f"{max(0.0, seconds):.3f}")
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return write_text(path, '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n")


def write_junit(result: SuiteResult, path: Path) -> Path:
    lines = [*checklist(result), *performance(result)]
    criteria = _criteria(lines)
    root = ET.Element("testsuites", name=f"chaoslib suite ({result.profile.name}, {result.timing})")
    took = result.ended_at - result.started_at
    # A scenario that stopped the suite carries the reason itself: one error, not two.
    stopped_by_scenario = any(j.status in UNFINISHED for j in result.journals)
    if result.status in UNFINISHED and (result.error or not stopped_by_scenario):
        suite = _testsuite(root, "chaoslib suite", took, result.started_at)
        reason = result.error or ("no scenario ran" if not result.journals else None)
        _error_case(suite, "chaos.suite", result.status, reason, took)
        _count(suite, suite.findall("testcase"))
    for journal in result.journals:
        journal_suite(root, journal, criteria)
    _checklist_suite(root, lines)
    return _write(root, path, took)


def write_run_junit(journal: Journal, path: Path) -> Path:
    """``chaos run``: one experiment, one testsuite."""
    root = ET.Element("testsuites", name=f"chaos run {journal.experiment}")
    journal_suite(root, journal)
    return _write(root, path, journal.duration)
