"""``invoke chaos.suite --check``: every profile error with its line, a static plan of the
run (each check: can run, or unknown with the missing key), and nothing started."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from chaoslib.profiles import load_profile
from chaoslib.scenarios import SCENARIOS
from tests.helpers import REPO, run_invoke, subprocess_env

LOCAL = Path(load_profile("local").path)
NAMES = {"steady-state", *SCENARIOS}
HEADER = re.compile(r"^(?P<name>[a-z-]+)(?: \(guide test \d+\))?: ")
CHECK = re.compile(r"^    (?P<status>can run|unknown)  (?P<key>\S+)\s+(?P<rest>.*)$")
# StreamWorkload connects to Redis in its constructor, so load-failure cannot be built
# against a target where nothing runs (see test_load_failure_is_planned_too).
UNPLANNED = "not planned: building it reaches for a running system"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def check(home: Path, *args: str):
    return run_invoke(home, "chaos.suite", "--check", *args, timeout=120)


def parse(stdout: str) -> tuple[dict[str, dict[str, tuple[str, str]]], set[str]]:
    """scenario -> check key -> (status, the rest of the line); and the unplanned ones."""
    plans: dict[str, dict[str, tuple[str, str]]] = {}
    unplanned: set[str] = set()
    current = None
    for line in stdout.splitlines():
        header = HEADER.match(line)
        if header and header["name"] in NAMES:
            current = header["name"]
            plans[current] = {}
        elif current and (found := CHECK.match(line)):
            plans[current][found["key"]] = (found["status"], found["rest"])
        elif current and line.strip().startswith(UNPLANNED):
            unplanned.add(current)
    return plans, unplanned


def unknowns(stdout: str) -> dict[tuple[str, str], str]:
    plans, _ = parse(stdout)
    return {
        (scenario, key): rest
        for scenario, checks in plans.items()
        for key, (status, rest) in checks.items()
        if status == "unknown"
    }


def test_the_reference_profile_plans_every_check_as_runnable_and_exits_0(tmp_path):
    done = check(tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    plans, unplanned = parse(done.stdout)
    assert set(plans) == NAMES  # the quiet period and all nine scenarios
    assert unplanned <= {"load-failure"}
    for scenario, checks in plans.items():
        if scenario not in unplanned:
            assert checks, scenario
            assert {s for s, _ in checks.values()} == {"can run"}, (scenario, checks)
    assert "static plan: nothing was started" in done.stdout
    assert " 0 will be unknown" in done.stdout
    # What each scenario uses, as the profile sets it for the chosen timing.
    assert "  waits:    recover=3, redis_down=1.5, steady=1" in done.stdout
    assert "  links:    db-orchestrator, db-shard_01, db-shard_02" in done.stdout


def test_load_failure_is_planned_too(tmp_path):
    done = check(tmp_path / "home", "--only", "load-failure")
    plans, unplanned = parse(done.stdout)
    assert not unplanned
    assert plans["load-failure"] and {s for s, _ in plans["load-failure"].values()} == {"can run"}


CONTRACT = "extends: local\nname: mine\ncontract:\n"
DROPPED = {
    "signals": (
        CONTRACT + "  signals: null\n",
        "contract.signals",
        {
            ("redis-restart", "message_loss"),
            ("orchestrator-partition", "message_loss"),
            ("load-failure", "message_loss"),
        },
    ),
    "alert_sinks": (
        CONTRACT + "  alert_sinks: null\n",
        "contract.alert_sinks",
        {
            ("redis-restart", "alert:redis_connectivity"),
            ("db-drop", "alert:database_connectivity"),
            ("db-drop", "alert_file:database_connectivity"),
            ("all-shards-dead", "alert:all_workers_unhealthy"),
            ("all-shards-dead", "alert_file:all_workers_unhealthy"),
            ("all-shards-dead", "rate_limit"),
        },
    ),
    "commands": (
        CONTRACT + "  commands: null\n",
        "contract.commands",
        {
            ("redis-restart", "subscriptions"),
            ("load-failure", "subscriptions"),
            ("zombie-cleanup", "runnable"),  # the whole scenario
        },
    ),
    "survivor": (
        CONTRACT + "  roles: {survivor: null}\n",
        "contract.roles.survivor",
        {
            ("shard-crash", "reassign"),
            ("shard-crash", "no_cascade"),
            ("zombie-cleanup", "runnable"),
        },
    ),
}


@pytest.mark.parametrize("dropped", list(DROPPED))
def test_a_dropped_contract_part_makes_exactly_the_checks_that_need_it_unknown(tmp_path, dropped):
    text, key, expected = DROPPED[dropped]
    profile = write(tmp_path / "mine.yml", text)
    done = check(tmp_path / "home", "--profile", str(profile))
    assert done.returncode == 0, done.stdout + done.stderr  # valid, even with unknowns
    _, unplanned = parse(done.stdout)
    expected = {(s, k) for s, k in expected if s not in unplanned}
    found = unknowns(done.stdout)
    assert set(found) == expected, done.stdout
    for where, reason in found.items():
        assert "the profile declares no" in reason and key in reason, (where, reason)
    assert f" {len(expected)} will be unknown" in done.stdout


def test_a_missing_setting_makes_the_scenario_that_reads_it_unknown(tmp_path):
    # extends cannot remove a key (mappings merge key by key), so this profile is local's
    # text without the setting, and without settings_env's line that hands it on.
    text = "".join(line for line in LOCAL.read_text().splitlines(keepends=True)
                   if "monitor_interval" not in line and "SYSTEM_MONITOR_INTERVAL" not in line)  # fmt: skip
    profile = write(tmp_path / "mine.yml", text.replace("name: local", "name: mine", 1))
    done = check(tmp_path / "home", "--profile", str(profile))
    assert done.returncode == 0, done.stdout + done.stderr
    found = unknowns(done.stdout)
    assert set(found) == {("all-shards-dead", "runnable")}, done.stdout
    assert "timings.*.settings.monitor_interval" in found["all-shards-dead", "runnable"]


BROKEN = """\
extends: local
name: broken
colour: blue
contract:
  roles:
    victim: shard_09
timings:
  fast:
    waits:
      steady: -1
"""


def test_three_errors_in_three_sections_are_all_listed_with_their_lines_and_exit_2(tmp_path):
    profile = write(tmp_path / "broken.yml", BROKEN)
    done = check(tmp_path / "home", "--profile", str(profile))
    assert done.returncode == 2, done.stdout + done.stderr
    out = done.stdout
    assert f"profile {profile}: 3 errors" in out
    assert f"[top-level keys] {profile}:3: colour: unknown key in the profile" in out
    assert (
        f"[contract.roles] {profile}:6: contract.roles.victim: no service is named shard_09" in out
    )
    assert f"[timings] {profile}:10: timings.fast.waits.steady: must be >= 0, got -1" in out
    assert "later errors in the same section are not reported yet" in out
    assert "static plan" not in out  # no plan for a profile that does not parse
    # Without --check the parser stops at the first of them, as before.
    run = run_invoke(tmp_path / "home", "chaos.suite", "--profile", str(profile))
    assert run.returncode == 2
    assert f"{profile}:3: colour" in run.stderr and "shard_09" not in run.stderr


def test_links_wait_for_the_services_they_name(tmp_path):
    profile = write(
        tmp_path / "mine.yml",
        "extends: local\nname: mine\nservices:\n  orchestrator:\n    module: m\n    image: x\n"
        "timings:\n  seed:\n    waits: {steady: -2}\n",
    )
    done = check(tmp_path / "home", "--profile", str(profile))
    assert done.returncode == 2
    assert f"[services] {profile}:6: image: unknown key" in done.stdout
    assert f"[timings] {profile}:9: timings.seed.waits.steady" in done.stdout
    assert "not checked yet: links (they name the services)" in done.stdout


def test_dash_h_after_the_task_is_still_its_help_not_check(tmp_path):
    # invoke gives a flag the first free letter of its name: --check would have taken -h.
    done = run_invoke(tmp_path / "home", "chaos.suite", "-h")
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: inv[oke] [--core-opts] chaos.suite"), done.stdout
    assert "--check" in done.stdout  # no short form: -h stays the help (cli/conventions)
    assert "static plan: nothing was started" not in done.stdout


def test_a_service_that_cannot_be_launched_is_an_error_the_run_would_stop_at(tmp_path):
    text = LOCAL.read_text()
    old = '      PYTHONUNBUFFERED: "1"\n'
    assert old in text
    profile = write(
        tmp_path / "mine.yml", text.replace(old, old + "      X: ${CHAOS_NO_SUCH_VAR}\n")
    )
    done = check(tmp_path / "home", "--profile", str(profile), "--only", "db-slow")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"profile {profile}: valid" in done.stdout  # the file itself is fine
    assert "error(s) a run would stop at:" in done.stdout
    assert (
        f"{profile}:16: services.orchestrator.env.X: variable CHAOS_NO_SUCH_VAR is not defined"
        in done.stdout
    )


def test_a_bad_flag_exits_2(tmp_path):
    done = check(tmp_path / "home", "--only", "no-such-scenario")
    assert done.returncode == 2
    assert "unknown scenario(s) no-such-scenario" in done.stderr


# Runs invoke under an audit hook that records every process spawn, socket connect and
# file opened for writing: the observation that --check starts and writes nothing.
AUDITED = """
import json, os, sys
out, spawn, args = sys.argv[1], sys.argv[2] == "spawn", sys.argv[3:]
seen = []
SPAWNS = ("subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn",
          "os.system", "os.exec", "pty.spawn")
def hook(event, a):
    if event.startswith(SPAWNS) or event == "socket.connect":
        seen.append([event, repr(a[1] if event == "socket.connect" else a)[:200]])
    elif event == "open" and str(a[0]) != out:
        mode, flags = a[1] or "", a[2] or 0
        if set(str(mode)) & set("wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            seen.append([event, str(a[0])])
sys.addaudithook(hook)
try:
    if spawn:
        import subprocess
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    from invoke.main import program
    program.run(["invoke", *args])
finally:
    with open(out, "w") as fh:
        json.dump(seen, fh)
"""


def audited(tmp_path: Path, home: Path, spawn: bool, *args: str):
    import subprocess

    out = tmp_path / "events.json"
    done = subprocess.run(
        [sys.executable, "-c", AUDITED, str(out), "spawn" if spawn else "no", *args],
        cwd=REPO, env=subprocess_env(home), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done, json.loads(out.read_text())


def test_check_starts_no_process_and_writes_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    profile = write(tmp_path / "mine.yml", CONTRACT + "  signals: null\n")
    # The hook sees a spawn when there is one, so its silence below means something.
    _, control = audited(tmp_path, home, True, "--version")
    assert any(e == "subprocess.Popen" for e, _ in control), control
    done, events = audited(tmp_path, home, False, "chaos.suite", "--check", "--profile",
                           str(profile))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "static plan: nothing was started" in done.stdout
    assert [e for e in events if e[0] != "socket.connect"] == [], events
    # The only connections tried are the plan's own, to a loopback port nothing listens on.
    connects = [detail for e, detail in events if e == "socket.connect"]
    assert all(d.startswith("('127.0.0.1', ") for d in connects), connects
    assert list(home.iterdir()) == []  # CHAOS_HOME: no stack, no ledger, no state
