"""Faults never outlive their owner, however the run ends.

Each test starts a real experiment in a child process with every kind of local
fault active at once, ends it one way, then counts what a leaked fault would
leave: toxics, disabled proxies, stopped or paused services, ledger entries
and processes the run started that are still alive. The endings:

- a normal end, and an exception (a fault that fails to apply mid-run);
- SIGINT twice in a row, SIGTERM, and SIGHUP sent to the run's whole process
  group (what a closing terminal does to the shell and its jobs);
- SIGKILL, which heals nothing, followed by ``invoke chaos.reset``.

Two sets of faults share a stack's two services, so each set can hold all of
its faults at once: toxics of every kind, a link down, a client-scoped
partition, a paused and a killed service (``toxics``); a flapping link, a
stopped service and a restart that is still down (``services``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid

import psutil
import pytest

from chaoslib.faults.ledger import Ledger
from chaoslib.services import stack as stack_mod
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import WaitTimeout, wait_until
from tests.helpers import REPO, run_invoke, subprocess_env

HOLDER = textwrap.dedent(
    """
    import sys
    from chaoslib.faults import schedule
    from chaoslib.target import open_target
    from chaoslib.experiment.runner import Experiment
    from chaoslib.faults import ServiceFault
    from chaoslib.faults.base import Fault
    from chaoslib.faults.ledger import LedgerEntry
    from chaoslib.faults.client_partition import Partition, plan
    from chaoslib.faults.service import Restart

    kind, ending = sys.argv[1], sys.argv[2]
    hold = 4.0 if ending in ("normal", "exception") else 600
    env = open_target(None)
    redis, db = env.link("redis"), env.link("timescaledb")
    if kind == "toxics":
        faults = {
            "latency": redis.latency(500),
            "bandwidth": redis.bandwidth(10, direction="upstream"),
            "slicer": redis.slicer(100, 10, 0),
            "limit_data": redis.limit_data(1 << 40),
            "slow_close": redis.slow_close(100),
            "redis_command": redis.redis_command(["FLUSHALL"], action="error"),
            "timeout": redis.timeout(0, direction="upstream", toxicity=0.0),
            "reset_peer": redis.reset_peer(0, toxicity=0.0),
            "pg_query": db.pg_query("DROP TABLE", action="error"),
            "partition": Partition(env, plan(env, None, "192.0.2.77", "redis", "both")),
            "down": db.down(),
            "pause": ServiceFault(env.service("redis"), "pause", ledger=env.ledger),
            "kill": ServiceFault(env.service("postgres"), "kill", ledger=env.ledger),
        }
    else:
        faults = {
            "flap": redis.flap(0.4, 0.2, 10_000),
            "stop": ServiceFault(env.service("redis"), "stop", ledger=env.ledger),
            "restart": Restart(env.service("postgres"), down_for=hold, ledger=env.ledger),
        }

    class Broken(Fault):
        name = "broken"
        def ledger_entry(self):
            return LedgerEntry("toxic", {"proxy": "none", "toxic": "none"}, "broken")
        def _apply(self):
            raise RuntimeError("this fault cannot be applied")
        def _heal(self):
            pass

    exp = Experiment("hold", steady_for=0, observe_after=0)
    for name, fault in faults.items():
        # A restart's apply blocks while the service is down: the others go first.
        exp.add(name, fault, schedule.once(0.5 if name == "restart" else 0, hold))
    if ending == "exception":
        exp.add("broken", Broken(ledger=env.ledger), schedule.once(2.0, 1))
    print("FAULTS", len(faults), flush=True)
    journal = exp.run()
    print("STATUS", journal.status, journal.error, flush=True)
    """
)
TOXICS_HELD = 11  # nine toxic faults, the partition's two (both directions)
ENDINGS = ["normal", "exception", "sigint-twice", "sigterm", "sighup-group", "sigkill-reset"]
STATUS = {
    "normal": "STATUS passed",
    "exception": "STATUS aborted RuntimeError: this fault cannot be applied",
    "sigint-twice": "STATUS interrupted",
    "sigterm": "STATUS interrupted",
    "sighup-group": "STATUS interrupted",
}
SERVERS = ("redis-server", "postgres")  # what a heal may legitimately (re)start and leave running


@pytest.fixture(scope="module")
def detached_stack(tmp_path_factory):
    """Started by ``invoke stack.up`` as a user would: the servers are not this process's
    children, so one the run kills is reaped by init, not left a zombie of the test."""
    home = tmp_path_factory.mktemp("safety-home")
    result = run_invoke(home, "stack.up", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    yield home, stack_mod.Stack.load(home)
    run_invoke(home, "stack.down", timeout=120)


def counts(home, stack, marker: str | None = None) -> dict[str, int]:
    """Count what a leaked fault would leave, rather than eyeballing it."""
    stack = stack_mod.Stack.load(home)  # a heal in the run may have started a new server
    proxies = Toxiproxy(stack.proxy_url).proxies().values()
    return {
        "toxics": sum(len(p.toxics) for p in proxies),
        "disabled_links": sum(1 for p in proxies if not p.enabled),
        "services_down": sum(1 for s in stack.services.values() if not s.is_running()),
        "services_paused": sum(1 for s in stack.services.values() if s.is_paused()),
        "ledger_entries": len(Ledger(home).entries()),
        "stray_processes": len(strays(marker)) if marker else 0,
    }


CLEAN = dict.fromkeys(
    [
        "toxics",
        "disabled_links",
        "services_down",
        "services_paused",
        "ledger_entries",
        "stray_processes",
    ],
    0,
)


def strays(marker: str) -> list[str]:
    """Live processes the run started (they inherit its marker), other than the servers."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get("CHAOS_SAFETY_MARK") != marker:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.status() != psutil.STATUS_ZOMBIE and not any(s in cmdline for s in SERVERS):
                found.append(f"{proc.pid} {cmdline[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def all_applied(kind: str, state: dict[str, int]) -> bool:
    if kind == "toxics":
        return (
            state["toxics"] == TOXICS_HELD
            and state["disabled_links"] == 1
            and (state["services_paused"] == 1 and state["services_down"] == 1)
        )
    return state["services_down"] == 2 and state["ledger_entries"] == 3


def start(home, kind: str, ending: str, marker: str) -> subprocess.Popen[str]:
    env = subprocess_env(home, CHAOS_SAFETY_MARK=marker)
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, ending],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a job of a shell would be
    )


def end(proc: subprocess.Popen[str], ending: str) -> None:
    if ending == "sigint-twice":
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
    elif ending == "sigterm":
        proc.send_signal(signal.SIGTERM)
    elif ending == "sighup-group":
        os.killpg(proc.pid, signal.SIGHUP)
    elif ending == "sigkill-reset":
        proc.send_signal(signal.SIGKILL)


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("kind", ["toxics", "services"])
def test_no_fault_outlives_the_run(detached_stack, kind, ending):
    home, stack = detached_stack
    marker = uuid.uuid4().hex
    proc = start(home, kind, ending, marker)
    try:
        wait_until(
            lambda: all_applied(kind, counts(home, stack)) or proc.poll() is not None,
            timeout=60,
            what=f"every {kind} fault to be applied",
        )
        applied = counts(home, stack)
        assert proc.poll() is None or ending in ("normal", "exception"), proc.stderr.read()
        end(proc, ending)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert all_applied(kind, applied), f"not every fault was active: {applied}"
    if ending == "sigkill-reset":
        left = counts(home, stack, marker)
        assert left["ledger_entries"] > 0, "SIGKILL healed nothing, yet the ledger is empty"
        result = run_invoke(home, "chaos.reset", timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert STATUS[ending] in out, f"{out}\n{err[-3000:]}"
    try:
        wait_until(lambda: counts(home, stack, marker) == CLEAN, timeout=30, what="a clean state")
    except WaitTimeout:
        pytest.fail(
            f"left after {ending}: {counts(home, stack, marker)} {strays(marker)}\n{err[-3000:]}"
        )


def test_the_stray_count_sees_a_process_a_run_left_behind(tmp_path):
    """The count above can fail: a child that outlives its run is found by the marker."""
    marker = uuid.uuid4().hex
    code = (
        "import subprocess, sys; "
        "p = subprocess.Popen(['sleep', '60'], start_new_session=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"
    )
    env = subprocess_env(tmp_path, CHAOS_SAFETY_MARK=marker)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    left = int(out)
    try:
        assert [line.split()[0] for line in strays(marker)] == [str(left)]
    finally:
        os.kill(left, signal.SIGKILL)
