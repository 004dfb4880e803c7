"""``chaos run`` refuses a hostile experiment or profile file: exit 2, the file, line and
what is wrong on stderr, no traceback, and nothing applied on the stack."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chaoslib.faults.ledger import Ledger
from chaoslib.services import stack as stack_mod
from chaoslib.toxiproxy.client import Toxiproxy
from tests.helpers import run_invoke
from tests.hostile_files import DEEP_LIST, GOOD, LOCAL, edit, many_faults, write


@pytest.fixture(scope="module")
def home(stack_home):
    return stack_home


def untouched(home: Path) -> bool:
    proxies = Toxiproxy(stack_mod.Stack.load(home).proxy_url).proxies()
    return all(p.enabled and not p.toxics for p in proxies.values()) and not Ledger(home).entries()


E2E = {
    "at_nan": (edit("at: 0", "at: .nan"), "faults[0].at: must be a finite number"),
    "steady_for_inf": ("steady_for: .inf\n" + GOOD, "steady_for: must be a finite number"),
    "logs_regex": (
        edit("observers:\n", "observers:\n  - {type: logs, path: a.log, patterns: ['(']}\n"),
        "is not a valid regex",
    ),
    "5000_faults": (
        many_faults(5000).replace("link: l0", "link: redis"),
        "101 toxics would be on link 'redis'",
    ),
    "binary": (random.Random(5).randbytes(2048), "a binary file"),
    "deep": (DEEP_LIST, "nest more than 50 levels deep"),
}


@pytest.mark.slow
def test_chaos_run_refuses_hostile_files_with_exit_2_and_applies_nothing(home, tmp_path):
    for case, (content, problem) in E2E.items():
        path = write(tmp_path / f"{case}.yml", content)
        result = run_invoke(home, "chaos.run", str(path))
        output = result.stdout + result.stderr
        assert result.returncode == 2, (case, output)
        assert "Traceback" not in output, (case, output)
        assert str(path) in result.stderr and problem in result.stderr, (case, output)
        assert "Running" not in result.stdout, (case, output)  # the run never began
        assert untouched(home), case


@pytest.mark.slow
def test_chaos_run_refuses_a_profile_whose_module_does_not_exist(home, tmp_path):
    profile = write(
        tmp_path / "p.yml",
        edit("module: chaoslib.examples.arbees.signals", "module: nowhere.signals", LOCAL),
    )
    exp = write(tmp_path / "exp.yml", GOOD)
    result = run_invoke(home, "chaos.run", str(exp), "--profile", str(profile))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and len(result.stderr.splitlines()) < 10, output
    assert f"{profile}:" in result.stderr and "'nowhere.signals'" in result.stderr, output
    assert untouched(home)
