"""chaoslib as a user's project gets it: a wheel built from the project, installed in a
fresh venv, its ``chaos`` command run in an empty directory outside the checkout (issue 20's
"Done when"); and how that command finds its state directory from wherever it runs.

The venv has the wheel alone; its dependencies come from this venv's site-packages through
a ``.pth`` line (nothing is downloaded). Such a line does not run the ``.pth`` files it adds,
so the checkout's editable install stays off, and the wheel's chaoslib is the one imported:
the first test asserts it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from invoke import task

from chaoslib.cli import chaos_tasks
from chaoslib.cli import namespace as checkout_namespace
from chaoslib.cli.program import root_namespace
from chaoslib.services.stack import Stack
from chaoslib.state import locate_home
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.helpers import REPO

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# A time as tasks print it: 0.004s, 2s, 1.25 s, 750ms
TIME = re.compile(r"(\d+(?:\.\d+)?)\s?(ms|s)\b")


def _env_without_chaos_home(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CHAOS_HOME", "PYTHONPATH")}
    return {**env, **extra}


def _no_chaos_above(directory: Path) -> None:
    found = [d / ".chaos" for d in (directory, *directory.parents) if (d / ".chaos").is_dir()]
    assert not found, f"{found[0]} exists above the test's directory: it would be the one used"


def seconds_after(word: str, text: str) -> float:
    """The first time printed after ``word``, in seconds."""
    at = text.find(word)
    assert at >= 0, f"{word!r} not in:\n{text}"
    m = TIME.search(text, at)
    assert m, f"no time after {word!r} in:\n{text}"
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def in_checkout(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """This checkout's ``chaos`` program (no install needed), run in ``cwd``."""
    code = "from chaoslib.cli.program import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


# -- the state directory --------------------------------------------------------------------
def test_the_nearest_chaos_directory_is_found_from_a_subdirectory(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAOS_HOME")
    _no_chaos_above(tmp_path)
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    alone = locate_home(cwd=sub)
    assert alone.path == sub / ".chaos"
    assert alone.how == f"CHAOS_HOME is unset and no .chaos is in {sub} or above it"

    (tmp_path / ".chaos").mkdir()
    found = locate_home(cwd=sub)
    assert found.path == tmp_path / ".chaos"
    assert found.how == f"the nearest .chaos above {sub}"
    assert locate_home(cwd=tmp_path).how == f"the nearest .chaos in {tmp_path}"

    monkeypatch.setenv("CHAOS_HOME", str(tmp_path / "elsewhere"))
    wins = locate_home(cwd=sub)
    assert (wins.path, wins.how) == (tmp_path / "elsewhere", "from CHAOS_HOME")


def test_no_stack_names_the_directory_it_looked_in_and_why_there(tmp_path):
    _no_chaos_above(tmp_path)
    sub = tmp_path / "tests" / "unit"
    sub.mkdir(parents=True)
    (tmp_path / ".chaos").mkdir()
    env = _env_without_chaos_home()

    found = in_checkout("redis-down", "--duration", "1", cwd=sub, env=env)
    assert found.returncode == 2, found.stderr
    assert "No stack is running. Start one with: invoke stack.up (or chaos stack.up)" in (
        found.stderr
    )
    assert f"Looked in {tmp_path / '.chaos'} (the nearest .chaos above {sub})." in found.stderr

    home = tmp_path / "home"
    chosen = in_checkout("redis-down", "--duration", "1", cwd=sub, env={**env, "CHAOS_HOME": str(home)})  # fmt: skip
    assert chosen.returncode == 2, chosen.stderr
    assert f"Looked in {home} (from CHAOS_HOME)." in chosen.stderr
    assert not home.exists()  # looking creates nothing


# -- the program and its namespace ----------------------------------------------------------
def test_the_program_has_the_chaos_tasks_at_the_root_and_the_stack_tasks_beneath():
    root = root_namespace()
    chaos = checkout_namespace.collections["chaos"]
    assert set(root.tasks) == set(chaos.tasks)  # the same tasks as invoke chaos.*
    assert all(root.tasks[name] is chaos.tasks[name] for name in chaos.tasks)
    assert set(root.collections) == set(checkout_namespace.collections) - {"chaos"}
    assert {"up", "down", "status", "env"} <= set(root.collections["stack"].tasks)


def test_a_task_added_to_the_chaos_collection_after_import_is_in_the_program():
    @task
    def late_arrival(c):
        """Registered after chaoslib.cli.program was imported."""

    chaos_tasks.collection.add_task(late_arrival)
    try:
        assert root_namespace().tasks["late-arrival"] is late_arrival
    finally:
        del chaos_tasks.collection.tasks["late-arrival"]


def test_usage_errors_exit_2_and_version_is_the_package_version(tmp_path):
    env = _env_without_chaos_home(CHAOS_HOME=str(tmp_path / "h"))
    version = in_checkout("--version", cwd=tmp_path, env=env)
    assert (version.returncode, version.stdout.strip()) == (0, f"chaos {VERSION}")
    for argv, said in ((["--bogus"], "'--bogus'"), (["no-such-task"], "'no-such-task'")):
        result = in_checkout(*argv, cwd=tmp_path, env=env)
        assert result.returncode == 2, (argv, result.stderr)
        assert f"No idea what {said} is!" in result.stderr


def test_a_projects_own_tasks_py_mounts_chaoslib_with_one_line(tmp_path):
    (tmp_path / "tasks.py").write_text(
        "from invoke import Collection, task\n"
        "from chaoslib.cli.program import root_namespace\n\n\n"
        "@task\ndef build(c):\n    print('built')\n\n\n"
        "ns = Collection(build)\n"
        'ns.add_collection(root_namespace(), "chaos")\n'
    )
    env = _env_without_chaos_home(CHAOS_HOME=str(tmp_path / "h"))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    listed = run("--list")
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert {"build", "chaos.db-slow", "chaos.suite", "chaos.stack.up", "chaos.stack.down"} <= names
    status = run("build", "chaos.stack.status", "--json")
    assert status.returncode == 0, status.stderr
    built, rest = status.stdout.split("\n", 1)
    assert built == "built"
    assert json.loads(rest) == {"services": {}, "links": {}}


# -- a wheel in a fresh venv, in an empty directory ----------------------------------------
@dataclass(frozen=True)
class Installed:
    venv: Path
    wheel: Path
    project: Path  # empty, outside the checkout
    env: dict[str, str]

    def chaos(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv / "bin" / "chaos"), *args],
            cwd=self.project, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def python(self, code: str) -> str:
        out = subprocess.run([str(self.venv / "bin" / "python"), "-c", code], cwd=self.project,
                             env=self.env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()


def _said(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    src = root / "src"  # built from a copy: a build in the checkout would write into it
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "chaoslib", src / "chaoslib", ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    run = dict(capture_output=True, text=True, timeout=300)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(root / "dist"), str(src)], **run)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("chaoslib-*.whl")
    venv = root / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **run)
    assert made.returncode == 0, made.stderr
    put = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                          "install", "--no-deps", "-q", str(wheel)], **run)  # fmt: skip
    assert put.returncode == 0, put.stderr
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **run)  # fmt: skip
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(site.stdout.strip()) / "zz_dependencies.pth").write_text("\n".join(deps) + "\n")

    project = root / "project"
    project.mkdir()
    assert not project.is_relative_to(REPO)
    _no_chaos_above(project)
    ours = str(Path(sys.executable).parent)  # this venv's bin: its chaos is the checkout's
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != ours)
    env = _env_without_chaos_home(PATH=f"{venv / 'bin'}{os.pathsep}{path}")
    env.pop("VIRTUAL_ENV", None)
    return Installed(venv, wheel, project, env)


@pytest.fixture(scope="module")
def stack(installed: Installed):
    try:
        up = installed.chaos("stack.up")
        yield up
    finally:
        installed.chaos("stack.down", timeout=60)


@pytest.mark.slow
def test_the_wheel_is_what_runs_and_carries_the_reference_system(installed):
    where = Path(installed.python("import chaoslib; print(chaoslib.__file__)"))
    assert where.is_relative_to(installed.venv), where
    package = where.parent
    for data in ("profiles/local.yml", "examples/arbees/docker-compose.yml",
                 "examples/arbees/arbees.env", "examples/arbees/shard.py"):  # fmt: skip
        assert (package / data).is_file(), data
    version = installed.chaos("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"chaos {VERSION}")


@pytest.mark.slow
def test_chaos_list_in_an_empty_directory(installed):
    listed = installed.chaos("--list")
    assert listed.returncode == 0, _said(listed)
    names = {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert {"db-slow", "redis-down", "suite", "stack.up", "stack.down"} <= names, names
    assert not list(installed.project.iterdir())  # listing writes nothing


@pytest.mark.slow
def test_chaos_stack_up_keeps_its_state_in_the_directory_it_ran_in(installed, stack):
    assert stack.returncode == 0, _said(stack)
    assert (installed.project / ".chaos" / "stack.json").is_file()
    assert f"State: {installed.project / '.chaos' / 'stack.json'}" in stack.stdout


@pytest.mark.slow
def test_chaos_db_slow_measures_detection_and_recovery(installed, stack):
    result = installed.chaos("db-slow", "--duration", "3s")
    out = _said(result)
    assert result.returncode == 0, out
    assert "Applied: latency(latency=1000" in out
    # 1000 ms each way: a probe's round trip takes about 2 s while the fault holds.
    assert int(re.search(r"median (\d+) ms", out).group(1)) >= 1900, out
    # Measured from the first slow probe: a delay is seen about 1 s after the apply,
    # before the probe's own 2 s deadline (which the old figure was).
    assert 0 < seconds_after("time to detect:", out) < 1.9, out
    assert seconds_after("time to recover:", out) <= 10


@pytest.mark.slow
def test_chaos_pause_a_service_measures_its_recovery(installed, stack):
    result = installed.chaos("pause", "--service", "redis", "--duration", "1s")
    out = _said(result)
    assert result.returncode == 0, out
    assert "recovered within" in out
    # Paused for 1 s: a probe through the link sees Redis gone for most of it.
    assert 0.5 <= seconds_after("unavailable for", out) <= 5, out


@pytest.mark.slow
def test_chaos_status_lists_the_fault_a_running_task_holds(installed, stack):
    assert stack.returncode == 0, _said(stack)
    held = subprocess.Popen(
        [str(installed.venv / "bin" / "chaos"), "db-slow", "--duration", "8s"],
        cwd=installed.project, env=installed.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        running = Stack.load(installed.project / ".chaos")
        assert running is not None and running.proxy_url
        with Toxiproxy(running.proxy_url) as api:
            wait_until(lambda: api.toxics("timescaledb"), timeout=15, what="the db-slow toxic")
        status = installed.chaos("status")
        out = _said(status)
        assert status.returncode == 0, out
        assert "timescaledb" in out and "latency" in out, out
    finally:
        rest, _ = held.communicate(timeout=60)
    assert held.returncode == 0, rest


@pytest.mark.slow
def test_chaos_suite_runs_the_reference_system_from_the_wheel(installed, stack):
    result = installed.chaos("suite", "--only", "shard-crash", timeout=300)
    out = _said(result)
    assert result.returncode == 0, out
    assert re.search(r"suite passed in [\d.]+s: 2 passed, 0 failed", out), out
    assert seconds_after("Dead shards detected within 65 seconds:", out) < 65
    (junit,) = (installed.project / "reports").glob("*/junit.xml")
    assert 'failures="0"' in junit.read_text()
    shard_log = (junit.parent / "logs" / "shard_01.log").read_text()
    assert "Shard shard_01 starting" in shard_log


@pytest.mark.slow
def test_chaos_stack_down_stops_it(installed, stack):
    down = installed.chaos("stack.down", timeout=60)
    assert down.returncode == 0, _said(down)
    assert "Stopped: " in down.stdout
    assert not (installed.project / ".chaos" / "stack.json").exists()
    again = installed.chaos("stack.down", timeout=60)
    assert again.returncode == 0 and "No stack is running" in _said(again)
