"""Every bad input issue 20 lists, as a user types it: the message and the exit code.

Usage errors exit 2 with a message naming the flag and what it accepts, never a
traceback; failed checks 1; SIGINT 130; SIGTERM 143. Each case runs against a real
embedded stack (``stack.up``) through ``invoke chaos.*`` (tasks.py) and, where the front
end matters, through the installed ``chaos`` program.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from chaoslib.faults import Ledger
from chaoslib.services import stack as stack_mod
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.helpers import REPO, pid_alive, run_invoke, spawn_python, subprocess_env

CHAOS = Path(sys.executable).parent / "chaos"  # the console script pyproject.toml installs


def run_chaos(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``chaos ARGS`` from a directory outside the checkout, as an installed user runs it."""
    return subprocess.run(
        [str(CHAOS), *args], cwd=home, env=subprocess_env(home), capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip


def run_front(front: str, home: Path, task: str, *args: str, timeout: float = 120):
    """One task through ``invoke chaos.TASK`` or ``chaos TASK`` (stack.* is the same in both)."""
    if front == "invoke":
        name = task if task.startswith("stack.") else f"chaos.{task}"
        return run_invoke(home, name, *args, timeout=timeout)
    return run_chaos(home, task, *args, timeout=timeout)


@pytest.fixture(autouse=True)
def _reports_in_tmp(tmp_path, monkeypatch):
    """A task's journal goes under tmp_path, never into the checkout's reports/."""
    monkeypatch.setenv("CHAOS_REPORT_DIR", str(tmp_path / "reports"))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("bad-input-home")
    result = run_invoke(home, "stack.up", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    yield home
    run_invoke(home, "stack.down", timeout=120)


def proxies(home: Path):
    return Toxiproxy(stack_mod.Stack.load(home).proxy_url).proxies()


def untouched(home: Path) -> bool:
    return (
        all(p.enabled and not p.toxics for p in proxies(home).values())
        and not Ledger(home).entries()
    )


def usage_error(result: subprocess.CompletedProcess, message: str) -> None:
    """Exit 2, the message on stderr, no traceback, nothing applied."""
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert message in result.stderr, out
    assert "Traceback" not in out and "Applied" not in result.stdout, out


FRONTS = ["invoke", "chaos"]

# -- durations ------------------------------------------------------------------------------
ACCEPTED = "use a number of seconds, or a number with a unit: 500ms, 30s, 2m, 1h"


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--duration", "inf"), f"--duration='inf' is not a duration; {ACCEPTED}"),
        (("--duration", "nan"), f"--duration='nan' is not a duration; {ACCEPTED}"),
        (("--duration", "-1"), "--duration='-1' is too short; use at least 0s and at most 24h"),
        (("--duration", "2x"), f"--duration='2x' is not a duration; {ACCEPTED}"),
        (("--recover-within", "nan"), f"--recover-within='nan' is not a duration; {ACCEPTED}"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_a_duration_that_is_not_one_exits_2_naming_what_is_accepted(home, front, args, message):
    usage_error(run_front(front, home, "redis-down", *args), message)
    assert untouched(home)


def test_a_duration_with_a_unit_is_held_for_that_long(home):
    started = time.monotonic()
    result = run_invoke(home, "chaos.redis-down", "--duration", "1500ms", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Healed" in result.stdout
    assert time.monotonic() - started >= 1.5
    assert untouched(home)


# -- flags ----------------------------------------------------------------------------------
@pytest.mark.parametrize("front", FRONTS)
def test_an_unknown_link_is_a_usage_error_listing_the_links(home, front):
    result = run_front(front, home, "redis-down", "--link", "nope", "--duration", "1")
    usage_error(result, "unknown link 'nope' for Redis; accepted: redis")
    assert untouched(home)


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("partition", "--service", "redis"), "--client is required: "),
        (("partition", "--client", "127.0.0.2"), "--service is required: "),
        (("bandwidth", "--link", "redis"), "--rate is required: "),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_a_missing_required_flag_fails_one_way_exit_2_naming_it(home, front, args, message):
    usage_error(run_front(front, home, *args), message)
    assert untouched(home)


def test_help_shows_verbose_as_a_repeated_switch_and_minus_vv_is_taken(home):
    help_text = run_chaos(home, "--help", "redis-down").stdout
    assert "-v, --verbose" in help_text and "--verbose=INT" not in help_text
    assert run_invoke(home, "stack.status", "-vv").returncode == 0
    assert run_chaos(home, "stack.status", "-vv").returncode == 0


def test_a_value_given_to_verbose_is_a_usage_error_saying_to_repeat_it(home):
    result = run_chaos(home, "stack.status", "--verbose=2")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--verbose takes no value: repeat the flag instead, -v for INFO, -vv for DEBUG" in (
        result.stderr
    )


# -- the suite's report directory -----------------------------------------------------------
@pytest.mark.parametrize("front", FRONTS)
def test_a_report_dir_that_cannot_be_written_exits_2_before_anything_starts(tmp_path, front):
    result = run_front(front, tmp_path, "suite", "--report-dir", "/proc/nope", timeout=60)
    usage_error(result, "--report-dir='/proc/nope' cannot be written")
    assert "give a directory you can create or write" in result.stderr
    assert not (tmp_path / "suite").exists()  # no stack, no system was started


@pytest.mark.parametrize("front", FRONTS)
def test_suite_dry_run_prints_the_plan_and_starts_nothing(tmp_path, front):
    result = run_front(front, tmp_path, "suite", "--dry-run", "--only", "db-drop", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "experiments" in result.stdout and "can run" in result.stdout
    assert not (tmp_path / "suite").exists()


# -- experiment files -----------------------------------------------------------------------
def test_a_nan_start_time_in_yaml_is_refused_with_its_line(home, tmp_path):
    path = tmp_path / "nan.yml"
    path.write_text(
        "name: nan-at\nfaults:\n  - {name: d, type: down, link: redis, at: .nan, for: 1}\n"
    )
    result = run_invoke(home, "chaos.run", str(path), timeout=60)
    usage_error(result, f"{path}:3:")
    assert "at" in result.stderr and "nan" in result.stderr.lower()
    assert untouched(home)


def test_a_tcp_observer_on_timescaledb_probes_the_database_link(home, tmp_path):
    path = tmp_path / "tcp.yml"
    path.write_text(
        "name: tcp-db\nsteady_for: 0.5\nobserve_after: 1\n"
        "observers:\n  - {type: tcp, name: db, link: timescaledb, interval: 0.1}\n"
        "faults:\n  - {name: cut, type: down, link: timescaledb, at: 0, for: 1}\n"
        "checks:\n  - {type: recovered_within, observer: db, fault: cut, seconds: 5}\n"
    )
    result = run_invoke(
        home, "chaos.run", str(path), "--journal", str(tmp_path / "journal.json"), timeout=120
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "IndexError" not in out and "Traceback" not in out
    assert untouched(home)


# -- chaoslib-proxy -help, as toxiproxy-server -help ------------------------------------------
@pytest.mark.parametrize("flag", ["-help", "-h", "--help"])
def test_chaoslib_proxy_help_prints_the_usage_and_exits_0(flag):
    result = subprocess.run(
        [sys.executable, "-m", "chaoslib.proxy", flag], capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: chaoslib-proxy")
    assert "-config CONFIG" in result.stdout and "-client-timeout" in result.stdout


# -- signals --------------------------------------------------------------------------------
def _finish(proc: subprocess.Popen, timeout: float = 60) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return out + err


def _first_down(home: Path, *flap: str) -> tuple[float, int, subprocess.Popen]:
    """Seconds from the task's start to the redis link's first down, and its RSS then."""
    started = time.monotonic()
    proc = spawn_python(home, "-m", "invoke", "chaos.redis-flap", *flap)
    wait_until(
        lambda: not proxies(home)["redis"].enabled or proc.poll() is not None,
        timeout=60, interval=0.005, what="the first down of the flap",
    )  # fmt: skip
    took = time.monotonic() - started
    assert proc.poll() is None, _finish(proc)
    return took, psutil.Process(proc.pid).memory_info().rss, proc


def test_a_million_cycle_flap_goes_down_as_soon_as_a_three_cycle_one(home):
    base, _, small = _first_down(home, "--period", "0.2", "--down", "0.1", "--cycles", "3")
    assert _finish(small, 60) and small.returncode == 0
    wait_until(lambda: untouched(home), timeout=30, what="the small flap to heal")
    took, rss, proc = _first_down(home, "--period", "0.08", "--down", "0.04", "--cycles", "1000000")
    try:
        # Python and invoke start in both; the schedule must add less than a second.
        assert took < base + 1.0, (took, base)
        assert rss < 200 * 1024 * 1024, rss  # the whole schedule was 488 MB
    finally:
        proc.send_signal(signal.SIGINT)
        out = _finish(proc)
    assert proc.returncode == 130, out
    wait_until(lambda: untouched(home), timeout=30, what="the flap to heal")


def test_sigterm_during_a_fault_task_heals_and_exits_143(home):
    proc = spawn_python(home, "-m", "invoke", "chaos.redis-down", "--duration", "60")
    try:
        wait_until(
            lambda: not proxies(home)["redis"].enabled or proc.poll() is not None,
            timeout=60, what="redis to go down",
        )  # fmt: skip
        assert proc.poll() is None, _finish(proc)
        proc.send_signal(signal.SIGTERM)
        out = _finish(proc)
    finally:
        proc.kill()
    assert proc.returncode == 143, out
    assert "Healed" in out and "Traceback" not in out
    assert untouched(home)


def _pids(state: Path) -> list[int]:
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        services = json.loads(state.read_text())["services"].values()
        return [s["handle"]["pid"] for s in services if (s.get("handle") or {}).get("pid")]
    return []


def test_sigterm_while_the_stack_starts_stops_what_started_and_exits_143(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "stack.up"], cwd=REPO, env=subprocess_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    state = tmp_path / "stack.json"
    try:
        wait_until(
            lambda: _pids(state) or proc.poll() is not None, timeout=120, interval=0.01,
            what="the first server of the stack to be spawned",
        )  # fmt: skip
        started = _pids(state)
        assert proc.poll() is None and started, _finish(proc)
        proc.send_signal(signal.SIGTERM)
        out = _finish(proc, 120)
    finally:
        proc.kill()
    assert proc.returncode == 143, out
    assert "interrupted: what had started was stopped" in out and "Traceback" not in out
    wait_until(
        lambda: not any(pid_alive(p) for p in started), timeout=30, what="its servers to stop"
    )
    assert not state.exists()
