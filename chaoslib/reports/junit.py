"""junit.xml: one testcase per check, and one per checklist line, so a CI server shows both."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from chaoslib.checklist import NOT_RUN, checklist, performance
from chaoslib.checks import PASS, threshold_text
from chaoslib.reports.journal import suite_json
from chaoslib.suite import SuiteResult


def _case(suite: ET.Element, classname: str, name: str, check: dict, seconds: float = 0) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    figure = f"measured {check.get('measured')} {check.get('unit', '')}, threshold {threshold_text(check.get('threshold'), '', check.get('tolerance'))}"
    if check["status"] == NOT_RUN:
        ET.SubElement(case, "skipped", message="its scenario was not run")
    elif check["status"] != PASS:
        failure = ET.SubElement(
            case,
            "failure",
            type=check["status"],
            message=f"{check['status']}: {check.get('evidence', '')}",
        )
        failure.text = figure
    ET.SubElement(case, "system-out").text = f"{figure}\n{check.get('evidence', '')}"


def write_junit(result: SuiteResult, path: Path) -> Path:
    data = suite_json(result)
    root = ET.Element("testsuites", name=f"chaoslib suite ({data['profile']}, {data['timing']})")
    for scenario in data["scenarios"]:
        checks = scenario["steady_state"] + scenario["checks"]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=scenario["name"],
            tests=str(len(checks) or 1),
            failures=str(sum(c["status"] != PASS for c in checks)),
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
    lines = [*checklist(result), *performance(result)]
    suite = ET.SubElement(
        root,
        "testsuite",
        name="Success Criteria Checklist",
        tests=str(len(lines)),
        failures=str(sum(r.status not in (PASS, NOT_RUN) for r in lines)),
        skipped=str(sum(r.status == NOT_RUN for r in lines)),
    )
    for line in lines:
        _case(suite, f"checklist.{line.line.section}", line.line.text, line.to_json())
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
