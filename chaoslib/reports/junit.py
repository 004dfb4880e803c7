"""junit.xml: one testcase per check, and one per checklist line, so a CI server shows both.

A failed check is a ``<failure>``. An unknown check (a fact it needs is missing) is
``<skipped>`` with its reason: a CI server must not count it as a failure, nor as a pass.
Each testsuite's counts are taken from the cases it holds, so each is counted once.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from chaoslib.checklist import NOT_RUN, checklist, performance
from chaoslib.checks import PASS, UNKNOWN, threshold_text
from chaoslib.reports.journal import suite_json
from chaoslib.suite import SuiteResult


def _case(suite: ET.Element, classname: str, name: str, check: dict, seconds: float = 0) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    figure = f"measured {check.get('measured')} {check.get('unit', '')}, threshold {threshold_text(check.get('threshold'), '', check.get('tolerance'))}"
    evidence = check.get("evidence", "")
    if check["status"] == NOT_RUN:
        ET.SubElement(case, "skipped", message="its scenario was not run")
    elif check["status"] == UNKNOWN:
        ET.SubElement(case, "skipped", message=evidence or "unknown: the check gave no reason")
    elif check["status"] != PASS:
        failure = ET.SubElement(
            case, "failure", type=check["status"], message=f"{check['status']}: {evidence}"
        )
        failure.text = figure
    ET.SubElement(case, "system-out").text = f"{figure}\n{evidence}"


def _count(suite: ET.Element) -> None:
    """tests, failures and skipped as the suite's cases say, set once they are all written."""
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(len(suite.findall("testcase/failure"))))
    suite.set("skipped", str(len(suite.findall("testcase/skipped"))))


def write_junit(result: SuiteResult, path: Path) -> Path:
    data = suite_json(result)
    root = ET.Element("testsuites", name=f"chaoslib suite ({data['profile']}, {data['timing']})")
    for scenario in data["scenarios"]:
        checks = scenario["steady_state"] + scenario["checks"]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=scenario["name"],
            tests="0",  # attributes keep this order; _count fills them in
            failures="0",
            skipped="0",
            time=f"{scenario['duration_s']:.3f}",
        )
        for check in checks:
            _case(suite, f"chaos.{scenario['name']}", check["name"], check)
        if scenario["error"] or not checks:
            _case(
                suite,
                f"chaos.{scenario['name']}",
                "scenario ran to the end",
                {
                    "status": "fail" if scenario["error"] else PASS,
                    "evidence": scenario["error"] or "",
                },
            )
        _count(suite)
    suite = ET.SubElement(
        root,
        "testsuite",
        name="Success Criteria Checklist",
        tests="0",
        failures="0",
        skipped="0",
    )
    for line in [*checklist(result), *performance(result)]:
        _case(suite, f"checklist.{line.line.section}", line.line.text, line.to_json())
    _count(suite)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
