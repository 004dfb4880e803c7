"""The project's promises about itself: the README's quick start and CI run the same thing."""

from __future__ import annotations

import re

from tests.helpers import REPO


def _quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    assert block, "the quick start has no code block"
    return [
        line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")
    ]


def test_readme_quick_start_has_exactly_two_commands():
    assert len(_quick_start_commands()) == 2


def test_ci_runs_the_readmes_test_command():
    test_command = _quick_start_commands()[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert test_command in ci


def test_readme_warns_about_chaostoolkit_lib():
    assert "chaostoolkit-lib" in (REPO / "README.md").read_text()
