"""What hostile testing broke in the fault tasks (issue 18), each proven against real servers.

- A stop cut short by Ctrl-C while the server shuts down is finished, then undone.
- ``inf``, ``nan`` and out-of-range numbers are refused before anything is applied.
- Ctrl-C during ``chaos.partition`` heals the cut and exits 130, with no traceback.
- Two faults on one link are kept apart: the second is refused unless ``--overlap``,
  a heal never undoes another fault's hold, and a hold that did not hold is not ✅.
- A bad profile exits 2 from every task.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest

from chaoslib.faults import Ledger, Link, Restart, ServiceFault
from chaoslib.services import stack as stack_mod
from chaoslib.services.postgres import PostgresServer
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.helpers import Said, pid_alive, run_invoke, spawn_python


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A stack started as a user starts it (``invoke stack.up``): its servers are not
    children of the test, so a server a task stops is reaped, not left a zombie here."""
    home = tmp_path_factory.mktemp("hostile-home")
    result = run_invoke(home, "stack.up", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    yield home
    run_invoke(home, "stack.down", timeout=120)


def proxies(home):
    return Toxiproxy(stack_mod.Stack.load(home).proxy_url).proxies()


def untouched(home) -> bool:
    """No fault anywhere: every link up, no toxic, an empty ledger."""
    state = proxies(home).values()
    return all(p.enabled and not p.toxics for p in state) and not Ledger(home).entries()


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return out, err


def wait_down(home, link: str = "redis") -> None:
    wait_until(lambda: not proxies(home)[link].enabled, timeout=30, what=f"{link} to go down")


# -- defect 3: a stop interrupted mid-shutdown ----------------------------------------------
@pytest.fixture(scope="module")
def private_postgres(tmp_path_factory):
    server = PostgresServer(tmp_path_factory.mktemp("pg-hostile"))
    server.start()
    yield server
    if server.pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGCONT)
    server.stop()
    server.remove_data()


def interrupt_mid_stop(server: PostgresServer) -> int:
    """Make the next stop end as a Ctrl-C does at the worst moment: the stop signal sent,
    the server still shutting down. SIGSTOP holds the postmaster there, so the heal runs
    while it provably has not exited; returns its pid."""
    proc = server._proc
    assert proc is not None and proc.pid is not None

    def signalled_not_gone(timeout: float) -> None:
        del proc.wait_gone  # once: the heal's own stop waits for real
        os.kill(proc.pid, signal.SIGSTOP)
        assert pid_alive(proc.pid)
        raise KeyboardInterrupt

    proc.wait_gone = signalled_not_gone  # type: ignore[method-assign]
    return proc.pid


@pytest.mark.parametrize(
    "make",
    [
        lambda server: ServiceFault(server, "stop"),
        lambda server: Restart(server, down_for=0.2),
    ],
    ids=["stop", "restart"],
)
def test_a_stop_cut_short_mid_shutdown_heals_to_a_running_answering_postgres(
    private_postgres, make
):
    server = private_postgres
    fault = make(server)
    old = interrupt_mid_stop(server)
    with pytest.raises(KeyboardInterrupt):
        fault.apply()  # the failed apply heals itself, as under chaos.run
    with contextlib.suppress(ProcessLookupError):
        os.kill(old, signal.SIGCONT)  # had the heal left it, it now finishes going down
    wait_until(lambda: not pid_alive(old), timeout=30, what="the stopped postmaster to exit")
    assert server.is_running(), "the heal left PostgreSQL stopped"
    assert server.pid != old
    assert server.probe()  # a real SELECT 1 answered
    assert not fault.applied and Ledger().entries() == []


def test_a_signal_while_a_fault_is_recorded_leaves_no_entry_and_no_fault(client, echo_link):
    """Ctrl-C landing just as the ledger entry is written: the entry and the fault go together."""
    ledger = echo_link.ledger
    fault = echo_link.down()
    real_add = ledger.add

    def add_then_sigint(entry):
        done = real_add(entry)
        os.kill(os.getpid(), signal.SIGINT)  # arrives right after the write
        return done

    ledger.add = add_then_sigint
    with pytest.raises(KeyboardInterrupt):
        fault.apply()
    assert ledger.entries() == [], "an entry was left for a fault nothing will heal"
    assert not fault.applied and client.proxies()["svc"].enabled


SERVICE_RACE = """\
name: pause-and-stop
steady_for: 0.5
observe_after: 0
faults:
  - {name: pause-redis, type: pause, service: redis, at: 0, for: 3}
  - {name: stop-postgres, type: stop, service: postgres, at: 0, for: 3}
"""


@pytest.mark.slow
# The stop runs about 0.5 s after the line on a 2-core box; 0.50-0.52 s hit it 5 times in 40
# before the fix (the 0.5-0.75 s, 2 in 26).
@pytest.mark.parametrize("delay", [0.5, 0.505, 0.51, 0.52, 0.6, 0.75])
def test_sigint_while_an_experiment_stops_postgres_leaves_it_running(home, tmp_path, delay):
    experiment = tmp_path / "race.yml"
    experiment.write_text(SERVICE_RACE)
    proc = spawn_python(home, "-m", "invoke", "chaos.run", str(experiment))
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the steady-state line, then the delay the issue used
            if line.startswith("steady state"):
                break
        time.sleep(delay)  # ok: the delay is the trial's parameter, not a synchronisation
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    stack = stack_mod.Stack.load(home)
    postgres, redis_server = stack.services["postgres"], stack.services["redis"]
    assert postgres.is_running() and postgres.probe(), f"PostgreSQL left stopped\n{out}{err}"
    assert redis_server.is_running() and not redis_server.is_paused()
    assert Ledger(home).entries() == []


# -- defect 8: numbers that are not numbers ---------------------------------------------------
# Durations go through chaoslib.durations (issue 20): units accepted, the same refusals.
ACCEPTED = "use a number of seconds, or a number with a unit: 500ms, 30s, 2m, 1h"
NOT_A_DURATION = f"is not a duration; {ACCEPTED}"
FINITE = f"is not a finite duration; {ACCEPTED}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("chaos.redis-down", "--duration", "inf"), f"--duration='inf' {NOT_A_DURATION}"),
        (("chaos.redis-down", "--duration", "1e309"), f"--duration='1e309' {FINITE}"),
        (("chaos.redis-down", "--duration", "nan"), f"--duration='nan' {NOT_A_DURATION}"),
        (("chaos.db-down", "--recover-within", "inf"), f"--recover-within='inf' {NOT_A_DURATION}"),
        (("chaos.db-down", "--recover-within", "nan"), f"--recover-within='nan' {NOT_A_DURATION}"),
        (("chaos.redis-down", "--duration", "86401"), "--duration='86401' is too long"),
        (("chaos.db-slow", "--latency", "1e309"), f"--latency='1e309' {FINITE}"),
        (("chaos.redis-flap", "--period", "nan"), f"--period='nan' {NOT_A_DURATION}"),
        (
            ("chaos.partition", "--client", "127.0.0.2", "--service", "redis", "--duration", "inf"),
            f"--duration='inf' {NOT_A_DURATION}",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_inf_nan_and_huge_numbers_exit_2_and_nothing_is_applied(home, args, message):
    result = run_invoke(home, *args, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Applied" not in result.stdout and "Traceback" not in result.stderr
    assert untouched(home)


# -- defect 9: Ctrl-C during chaos.partition ------------------------------------------------
def test_ctrl_c_during_a_partition_heals_and_exits_130(home):
    proc = spawn_python(
        home, "-m", "invoke", "chaos.partition", "--client", "127.0.0.2", "--service", "redis",
        "--duration", "60",
    )  # fmt: skip
    said = Said(proc)
    try:
        # Once "Applied" shows: toxics already in the proxy are not yet an applied fault
        # (a signal then undoes the apply, and says so: tests/unit/test_cli_conventions.py).
        wait_until(lambda: said("Applied:"), timeout=30, what="the cut")
        proc.send_signal(signal.SIGINT)  # while the probes of the cut still run
        out, err = said.finish()
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Healed: partition of 127.0.0.2/32 on redis" in out
    assert "Traceback" not in out + err and "UnboundLocalError" not in out + err
    assert untouched(home)


# -- defect 12: overlapping faults on one link ------------------------------------------------
@pytest.fixture
def echo_link(client, echo_server):
    client.create_proxy("svc", upstream=echo_server.address)
    yield Link("svc", client, ledger=Ledger())
    client.delete_proxy("svc")


def test_a_claims_file_that_cannot_be_written_does_not_stop_a_fault_or_its_heal(client, echo_link):
    (echo_link.ledger.path.parent / "links.json").mkdir(parents=True)
    fault = echo_link.down().apply()
    assert not client.proxies()["svc"].enabled
    fault.heal()
    assert client.proxies()["svc"].enabled and Ledger().entries() == []


def test_two_downs_on_one_link_keep_it_down_until_the_last_one_heals(client, echo_link):
    first, second = echo_link.down().apply(), echo_link.down().apply()
    first.heal()
    assert not client.proxies()["svc"].enabled, "the first heal undid the second fault"
    assert first.left_down == ["svc"]
    second.heal()
    assert client.proxies()["svc"].enabled
    assert Ledger().entries() == []


def test_a_flap_does_not_bring_up_a_link_another_fault_holds_down(client, echo_link):
    down = echo_link.down().apply()
    flap = echo_link.flap(0.1, 0.05, 3).apply()
    assert flap.wait(10)
    flap.heal()
    assert not client.proxies()["svc"].enabled, "the flap brought the held link back up"
    down.heal()
    assert client.proxies()["svc"].enabled


@pytest.mark.slow
def test_a_second_task_on_a_held_link_is_refused_naming_the_holder(home):
    holder = spawn_python(home, "-m", "invoke", "chaos.redis-down", "--duration", "6")
    try:
        wait_down(home)
        second = run_invoke(home, "chaos.redis-down", "--duration", "1", timeout=60)
        still_down = not proxies(home)["redis"].enabled
    finally:
        out, err = finish(holder)
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"link 'redis' is already held by pid {holder.pid} (link down: redis" in second.stderr
    assert "or pass --overlap to hold it too" in second.stderr
    assert "--force" not in second.stderr and "Applied" not in second.stdout
    assert still_down
    assert holder.returncode == 0, out + err
    assert "✅ the fault touched its links" in out
    assert untouched(home)


@pytest.mark.slow
def test_a_task_on_a_link_a_killed_run_left_down_is_refused_until_reset(home):
    # Before: the second task found the link down, touched nothing, said "Healed" and ✅,
    # and left the killed run's fault in place.
    killed = spawn_python(home, "-m", "invoke", "chaos.redis-down", "--duration", "60")
    try:
        wait_down(home)
    finally:
        killed.kill()
        finish(killed)
    second = run_invoke(home, "chaos.redis-down", "--duration", "0.5", timeout=60)
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"link down: redis (pid {killed.pid}, no longer running)" in second.stderr
    assert "invoke chaos.reset" in second.stderr and "Applied" not in second.stdout
    assert not proxies(home)["redis"].enabled, "the killed run's fault is still there"
    assert run_invoke(home, "chaos.reset").returncode == 0
    assert untouched(home)
    again = run_invoke(home, "chaos.redis-down", "--duration", "0.5", timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert untouched(home)


@pytest.mark.slow
def test_with_overlap_the_first_heal_leaves_the_link_to_the_longer_fault(home):
    # Before: the first fault's heal enabled the link 1.5 s into the second's 6 s hold,
    # and the second still reported ✅.
    first = spawn_python(
        home, "-m", "invoke", "chaos.redis-down", "--duration", "6", "--recover-within", "1"
    )
    second = None
    try:
        wait_down(home)
        second = spawn_python(
            home, "-m", "invoke", "chaos.redis-down", "--overlap", "--duration", "10"
        )
        wait_until(lambda: len(Ledger(home).entries()) == 2, timeout=30, what="both faults held")
        out, err = finish(first)
        still_held = second.poll() is None and not proxies(home)["redis"].enabled
        out2, err2 = finish(second)
    finally:
        first.kill()
        if second is not None:
            second.kill()
    assert "Still down for another fault that holds it: redis" in out, out + err
    # Its link did not come back within 1 s of its heal, and it says so rather than ✅.
    assert first.returncode == 1 and "❌ redis recovered within 1s" in out
    assert still_held, "the first fault's heal re-enabled the link the second still holds"
    assert second.returncode == 0, out2 + err2
    assert "✅ the fault touched its links: the probe through redis was refused" in out2
    assert untouched(home)


def test_a_down_that_something_else_ended_early_is_not_reported_as_held(home):
    holder = spawn_python(home, "-m", "invoke", "chaos.redis-down", "--duration", "3")
    try:
        wait_down(home)
        Toxiproxy(stack_mod.Stack.load(home).proxy_url).enable("redis")  # an outside undo
    finally:
        out, err = finish(holder)
    assert holder.returncode == 1, out + err
    # Whether a probe was refused before the undo or not, the answers after it mean ❌.
    assert "❌ the fault touched nothing: the probe through redis" in out
    assert "✅ the fault touched" not in out
    assert untouched(home)


# -- defect 15: a bad profile is a usage error everywhere --------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("chaos.redis-down", "--duration", "1"),
        ("chaos.run", "experiments/redis-flap-while-db-slow.yml"),
    ],
    ids=["fault-task", "chaos.run"],
)
def test_a_bad_profile_exits_2_from_a_fault_task_and_from_chaos_run(home, tmp_path, args):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nlinks: 5\n")
    result = run_invoke(home, *args, "--profile", str(bad), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{bad}:1: services: is required" in result.stderr
    assert "Traceback" not in result.stderr
    assert untouched(home)


def test_help_after_a_task_with_a_positional_argument_points_to_the_help(tmp_path):
    # Before: invoke gave "--help" to chaos.run as its file ("cannot read the file").
    # The hint names the task as it was typed (chaos.run here, run in the chaos program).
    for task in ("chaos.run", "chaos.validate", "chaos.scenario"):
        result = run_invoke(tmp_path, task, "--help")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Help: invoke --help {task}" in result.stderr
        assert "cannot read" not in result.stderr and "unknown scenario" not in result.stderr
