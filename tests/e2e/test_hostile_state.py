"""Local state that lies: a ledger naming a stack that is gone, a state file pointing at
someone else's directory or process, a chaos home that cannot hold files, damaged JSON.

Each case runs the real ``invoke`` tasks as a user would, against a real embedded stack
where one is needed, and checks the outcome: the exit code, the line printed, what is
left in the ledger, and that nothing outside chaoslib's own was deleted or signalled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.faults.recovery import FAILED, MAX_FAILED_RESETS, MIN_AGE_TO_GIVE_UP, heal_ledger
from chaoslib.services.managed import pick_free_port
from chaoslib.services.stack import Stack
from chaoslib.state import MARKER
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.helpers import pid_alive, run_invoke, spawn_python


def invoke_ok(home: Path, *args: str) -> subprocess.CompletedProcess:
    result = run_invoke(home, *args, timeout=120)
    assert result.returncode == 0, f"invoke {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def said(result: subprocess.CompletedProcess) -> str:
    """Everything printed, with the console's line wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


@pytest.fixture
def stack_home(tmp_path):
    """A stack started by ``invoke stack.up`` (not this process's children), always taken down."""
    home = tmp_path / "home"
    invoke_ok(home, "stack.up")
    yield home
    run_invoke(home, "stack.down", timeout=120)


def hold(home: Path, *args: str, applied) -> None:
    """Run a fault task, wait until its fault holds, then SIGKILL it: nothing is healed."""
    proc = spawn_python(home, "-m", "invoke", *args)
    try:
        wait_until(
            lambda: applied() or proc.poll() is not None, timeout=60, what=f"{args[0]} to hold"
        )
        assert proc.poll() is None, proc.communicate()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)


def proxy(home: Path) -> Toxiproxy:
    return Toxiproxy(Stack.load(home).proxy_url, timeout=5)


# -- defect 2: a reset that could never succeed ----------------------------------------------
@pytest.mark.slow
def test_reset_drops_a_fault_whose_stack_was_torn_down_and_exits_0(stack_home):
    hold(stack_home, "chaos.redis-down", "--duration", "30",
         applied=lambda: not proxy(stack_home).get_proxy("redis").enabled)  # fmt: skip
    [entry] = Ledger(stack_home).entries()
    invoke_ok(stack_home, "stack.down")
    invoke_ok(stack_home, "stack.up")  # a new stack: its proxy API is on another port

    first = run_invoke(stack_home, "chaos.reset")
    assert first.returncode == 0, said(first)
    assert "dropped link down: redis: the stack it was applied to" in said(first)
    assert "was torn down, and another stack runs now" in said(first)
    assert FAILED not in said(first) and "Traceback" not in said(first)
    assert Ledger(stack_home).entries() == []
    again = run_invoke(stack_home, "chaos.reset")
    assert again.returncode == 0 and entry.description not in said(again), said(again)


@pytest.mark.slow
def test_first_reset_after_the_proxy_is_sigkilled_restarts_it_heals_and_exits_0(stack_home):
    def toxics() -> int:
        return len(proxy(stack_home).toxics("timescaledb"))

    hold(stack_home, "chaos.db-slow", "--latency", "200", "--duration", "30",
         applied=lambda: toxics() == 2)  # fmt: skip
    pid = Stack.load(stack_home).services["toxiproxy"].pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), timeout=10, what="the proxy to die")

    result = run_invoke(stack_home, "chaos.reset")
    assert result.returncode == 0, said(result)
    text = said(result)
    assert text.index("started toxiproxy") < text.index("removed toxics")  # restored first
    assert FAILED not in text
    assert Ledger(stack_home).entries() == []
    assert toxics() == 0 and all(p.enabled for p in proxy(stack_home).proxies().values())


def test_an_entry_whose_proxy_api_refuses_connections_is_dropped_not_kept(tmp_path):
    ledger = Ledger(tmp_path)
    api = f"http://127.0.0.1:{pick_free_port()}"  # nothing listens: no proxy holds the fault
    ledger.add(LedgerEntry("link_down", {"api": api, "proxies": ["redis"]}, "link down: redis"))
    done = heal_ledger(ledger, None)
    assert done == [f"dropped link down: redis: nothing listens at {api} any more, and a proxy "
                    "holds its toxics and disabled links only while it runs"]  # fmt: skip
    assert ledger.entries() == []


class _Failing(BaseHTTPRequestHandler):
    def do_DELETE(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(500)
        self.end_headers()

    do_POST = do_PATCH = do_GET = do_DELETE  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def failing_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("age", [60.0, MIN_AGE_TO_GIVE_UP + 60])
def test_an_entry_that_keeps_failing_is_kept_only_for_a_bounded_number_of_resets(
    tmp_path, failing_api, age
):
    ledger = Ledger(tmp_path)
    entry = LedgerEntry("toxic", {"api": failing_api, "proxy": "redis", "toxics": ["chaos_x"]},
                        "latency on redis", applied_at=time.time() - age)  # fmt: skip
    ledger.add(entry)
    for attempt in range(1, MAX_FAILED_RESETS):
        [line] = heal_ledger(ledger, None)
        assert line.startswith(f"{FAILED} to heal latency on redis")
        assert f"kept for the next reset; failed {attempt} of at least" in line
    [last] = heal_ledger(ledger, None)
    if age < MIN_AGE_TO_GIVE_UP:  # a young fault may belong to a proxy that is restarting
        assert "kept for the next reset" in last and len(ledger.entries()) == 1
    else:
        assert last.startswith(FAILED) and f"dropped after {MAX_FAILED_RESETS} resets" in last
        assert ledger.entries() == []


# -- defect 4: a state file that points elsewhere ---------------------------------------------
def _edit_state(home: Path, edit) -> dict:
    path = home / "stack.json"
    data = json.loads(path.read_text())
    original = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return original


@pytest.mark.parametrize("where", ["outside the home", "inside the home"])
def test_stack_down_deletes_only_data_directories_chaoslib_created(stack_home, tmp_path, where):
    """Outside the home nothing is deleted; inside it, only a directory whose marker names it
    (one copied from a real data directory does not count, nor the home's own runs/)."""
    base = tmp_path / "precious" if where == "outside the home" else stack_home
    pg_dir = base / "pg" if where == "outside the home" else stack_home / "runs"
    redis_dir = base / "copied"
    (redis_dir / "data").mkdir(parents=True)
    (redis_dir / "data" / "keep.txt").write_text("mine")
    shutil.copy(Path(Stack.load(stack_home).services["redis"].data_dir) / MARKER,
                redis_dir / "data")  # fmt: skip
    pg_dir.mkdir(parents=True, exist_ok=True)
    (pg_dir / "keep.txt").write_text("mine")

    def edit(data: dict) -> None:
        data["services"]["postgres"]["extra"]["data_dir"] = str(pg_dir)
        data["services"]["redis"]["run_dir"] = str(redis_dir)

    original = _edit_state(stack_home, edit)
    try:
        result = run_invoke(stack_home, "stack.down")
    finally:  # the real data the forged file no longer names
        for name in ("postgres", "redis"):
            real = original["services"][name]
            shutil.rmtree(real["extra"].get("data_dir") or Path(real["run_dir"]) / "data",
                          ignore_errors=True)  # fmt: skip
    assert result.returncode == 0, said(result)
    text = said(result)
    assert "Stopped: toxiproxy, postgres, redis." in text
    assert (redis_dir / "data" / "keep.txt").read_text() == "mine"
    assert (pg_dir / "keep.txt").read_text() == "mine"
    for left in (pg_dir, redis_dir / "data"):
        why = (
            f"it is not under {stack_home}"
            if where == "outside the home"
            else (f"it has no {MARKER} marker naming it")
        )
        assert f"left {left} alone: {why}" in text


@pytest.mark.parametrize(
    ("service", "forged"),
    [("redis", "create_time 0"), ("redis", "another program's start time"),
     ("postgres", "create_time 0")],
)  # fmt: skip
def test_stack_down_never_signals_a_process_its_record_does_not_match(stack_home, service, forged):
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)  # leads its own group
    try:
        create_time = 0 if forged == "create_time 0" else psutil.Process(stranger.pid).create_time()

        def edit(data: dict) -> None:
            data["services"][service]["handle"] = {"pid": stranger.pid, "create_time": create_time}

        original = _edit_state(stack_home, edit)
        real = original["services"][service]
        try:
            result = run_invoke(stack_home, "stack.down")
        finally:  # the real server, which the forged record no longer names
            os.killpg(real["handle"]["pid"], signal.SIGKILL)
            if service == "postgres":
                shutil.rmtree(real["extra"]["data_dir"], ignore_errors=True)
        assert result.returncode == 0, said(result)
        others = ", ".join(n for n in ("toxiproxy", "postgres", "redis") if n != service)
        assert f"Stopped: {others}." in said(result)
        assert f"left pid {stranger.pid} alone: it is not the {service} chaoslib started" in (
            said(result)
        )
        if service == "postgres":  # and the data of the real one, which still runs on it
            assert f"left {real['extra']['data_dir']} alone: postgres pid" in said(result)
        assert stranger.poll() is None, f"the unrelated process got signal {-stranger.returncode}"
        assert psutil.Process(stranger.pid).status() != psutil.STATUS_STOPPED
    finally:
        stranger.kill()
        stranger.wait()


# -- defect 13: local state that cannot be used -------------------------------------------------
TASKS = ["stack.status", "stack.down", "chaos.reset"]


def _bad_home(kind: str, tmp_path: Path) -> Path:
    if kind == "file":
        path = tmp_path / "a-file"
        path.write_text("not a directory\n")
        return path
    return Path({"dev-null": "/dev/null", "proc": "/proc/1"}[kind])


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kind", ["dev-null", "file", "proc"])
def test_a_chaos_home_that_cannot_hold_files_is_a_usage_error(tmp_path, kind, task):
    home = _bad_home(kind, tmp_path)
    before = home.read_text() if kind == "file" else None
    result = run_invoke(home, task)
    assert result.returncode == 2, said(result)
    assert "Traceback" not in said(result)
    assert f"CHAOS_HOME={home} cannot be used" in said(result)
    assert "Set CHAOS_HOME to a directory chaoslib may create files in" in said(result)
    if before is not None:
        assert home.read_text() == before


STACK_FILES = {
    "a list": [],
    "no run_dir": {"version": 1, "services": {}},
    "a service without spec": {
        "version": 1,
        "run_dir": "/tmp/x",
        "services": {
            "redis": {
                "name": "redis",
                "kind": "redis",
                "host": "127.0.0.1",
                "port": 1,
                "url": "redis://",
                "run_dir": "/tmp/x",
            }
        },
    },  # fmt: skip
    "a string for a port": {
        "version": 1,
        "run_dir": "/tmp/x",
        "services": {
            "toxiproxy": {
                "name": "t",
                "kind": "toxiproxy",
                "host": "h",
                "port": "80",
                "url": "u",
                "run_dir": "/tmp/x",
                "spec": {},
            }
        },
    },  # fmt: skip
}
MESSAGES = {
    "a list": "it holds list [], not an object",
    "no run_dir": "the file has no 'run_dir'",
    "a service without spec": "services.redis has no 'spec'",
    "a string for a port": "services.toxiproxy.port is str '80', not int",
}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("case", list(STACK_FILES))
def test_a_damaged_stack_file_is_reported_and_left_as_it_is(tmp_path, case, task):
    home = tmp_path / "home"
    home.mkdir()
    path = home / "stack.json"
    path.write_text(json.dumps(STACK_FILES[case]))
    before = path.read_bytes()
    result = run_invoke(home, task)
    assert result.returncode == 1, said(result)
    assert "Traceback" not in said(result)
    assert f"{path} is damaged: {MESSAGES[case]}" in said(result)
    assert "so it changed nothing" in said(result)
    assert path.read_bytes() == before


LEDGERS = {
    "a list": ([], "is not a ledger"),
    "entries that are not objects": ({"faults": [5, "x"]}, "entry 1 is int '5', not an object"),
    "an entry without its keys": (
        {"faults": [{"kind": "toxic"}]},
        "entry 1 has no 'target', 'description', 'id'",
    ),  # fmt: skip
    "a target without its keys": (
        {
            "faults": [
                {"kind": "toxic", "target": {"proxy": "redis"}, "description": "d", "id": "i"}
            ]
        },
        "entry 1 (toxic) has no target.api",
    ),
    "a target that is not an object": (
        {"faults": [{"kind": "toxic", "target": [], "description": "d", "id": "i"}]},
        "entry 1 has target='[]', not dict",
    ),
}


@pytest.mark.parametrize("case", list(LEDGERS))
def test_a_damaged_ledger_is_reported_by_reset_and_left_as_it_is(tmp_path, case):
    home = tmp_path / "home"
    home.mkdir()
    path = home / "ledger.json"
    content, message = LEDGERS[case]
    path.write_text(json.dumps(content))
    before = path.read_bytes()
    result = run_invoke(home, "chaos.reset")
    assert result.returncode == 1, said(result)
    assert "Traceback" not in said(result)
    assert f"{FAILED}: {path}" in said(result) and message in said(result)
    assert path.read_bytes() == before


def test_reset_heals_the_entries_it_can_read_and_keeps_the_others_byte_for_byte(tmp_path):
    home = tmp_path / "home"
    ledger = Ledger(home)
    api = f"http://127.0.0.1:{pick_free_port()}"
    ledger.add(LedgerEntry("link_down", {"api": api, "proxies": ["redis"]}, "link down: redis"))
    raw = json.loads(ledger.path.read_text())
    odd = {"kind": "toxic", "description": "no target or id"}
    raw["faults"] = [odd, *raw["faults"], [1, 2]]
    ledger.path.write_text(json.dumps(raw))
    result = run_invoke(home, "chaos.reset")
    assert result.returncode == 1, said(result)
    assert "dropped link down: redis" in said(result)
    assert "entry 1 has no 'target', 'id'" in said(result) and "entry 3 is list" in said(result)
    assert json.loads(ledger.path.read_text()) == {"faults": [odd, [1, 2]]}


# -- defect 15: CHAOS_PG_BINDIR --------------------------------------------------------------------
def test_a_wrong_chaos_pg_bindir_stops_stack_up_saying_what_it_found(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    try:
        result = run_invoke(tmp_path / "home", "stack.up", CHAOS_PG_BINDIR=str(bindir))
    finally:  # a stack that started anyway (the bug) must not outlive the test
        run_invoke(tmp_path / "home", "stack.down")
    assert result.returncode == 2, said(result)
    assert "Traceback" not in said(result)
    assert f"CHAOS_PG_BINDIR={bindir} cannot be used: it has no executable postgres or initdb" in (
        said(result)
    )
    assert not (tmp_path / "home" / "stack.json").exists()
