"""``chaos stop|kill|pause|restart --service``: against a real stack, as a user runs them."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest

from chaoslib.faults.ledger import Ledger
from chaoslib.services.stack import Stack
from chaoslib.wait import wait_until
from tests.helpers import REPO, Said, subprocess_env

# The tasks as the installed CLI would hold them: at the root of a collection.
PROGRAM = """
import sys
from invoke import Collection, Program
from chaoslib.cli import service_tasks, status_task, run_task, redis_slow_task
ns = Collection()
for module in (service_tasks, status_task, run_task, redis_slow_task):
    for t in module.TASKS:
        ns.add_task(t)
Program(namespace=ns, name="chaos", binary="chaos").run()
"""


def chaos(home, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        cwd=REPO,
        env=subprocess_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn_chaos(home, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PROGRAM, *args],
        cwd=REPO,
        env=subprocess_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def home(stack_home):
    return stack_home


@pytest.fixture(autouse=True)
def _nothing_left_behind(home):
    """A task its test had to SIGKILL (see signalled) cannot heal: reset here, so the
    module's other tests start on a clean stack, and fail the test that left it."""
    yield
    left = [e.description for e in Ledger(home).entries()]
    if left:
        from chaoslib.target.reset import reset_all

        pytest.fail(f"the test left {left} behind; reset: {reset_all(home)}")


def service(home, name: str):
    return Stack.load(home).services[name]


def unavailable(out: str, name: str) -> float:
    found = re.search(rf"{name} was unavailable for ([0-9.]+)s by a probe through link", out)
    assert found, out
    return float(found.group(1))


def test_pause_redis_measures_the_whole_outage_and_resumes_it(home):
    result = chaos(home, "pause", "--service", "redis", "--duration", "1s")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Paused redis (pid" in out and "redis resumed after" in out
    assert out.index("Paused redis") < out.index("Holding redis paused for 1s…")
    assert out.index("Holding redis paused") < out.index("redis resumed after")
    # A paused Redis holds the probe rather than refusing it: that wait is the outage.
    assert 0.8 <= unavailable(out, "redis") <= 3.0
    assert re.search(
        r"✅ PASS redis recovered within 10s: answered [0-9.]+s after it was back", out
    )
    assert not service(home, "redis").is_paused()
    assert Ledger(home).entries() == []


def test_pause_leaves_a_journal_of_the_apply_the_heal_and_the_recovery(home, tmp_path):
    result = chaos(home, "pause", "--service", "redis", "--duration", "1s",
                   "--report-dir", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Journal: {tmp_path / 'journal.json'}" in result.stdout
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["experiment"] == "pause" and journal["status"] == "passed"
    assert [(f["fault"], f["action"], f["description"]) for f in journal["faults"]] == [
        ("pause", "apply", "pause redis"),
        ("pause", "heal", "pause redis"),
    ]
    apply, heal = (f["t"] for f in journal["faults"])
    assert 0.8 <= heal - apply <= 3.0  # held for --duration
    [steady] = journal["steady_state"]
    assert steady["name"] == "steady state before the fault: redis answers"
    assert steady["status"] == "pass"
    checks = {c["name"]: c for c in journal["checks"]}
    recovery = checks["redis recovered within 10s"]
    assert recovery["status"] == "pass" and 0 <= recovery["measured"] <= 10
    outage = checks["redis was unavailable by a probe through link redis"]
    assert outage["status"] == "pass" and 0.8 <= outage["measured"] <= 3.0
    assert [v["status"] for v in journal["steady_state_after"]] == ["pass"]


def test_ctrl_c_ends_an_endless_interval_on_its_verdict(home, tmp_path):
    proc = spawn_chaos(home, "pause", "--service", "redis", "--duration", "200ms",
                       "--interval", "600ms", "--report-dir", str(tmp_path))  # fmt: skip
    seen: set[str] = set()  # the ledger entry of each pause, while it holds

    def paused_twice() -> bool:
        now = [e.id for e in Ledger(home).entries() if e.pid == proc.pid]
        seen.update(now)
        return len(seen) >= 2 and not now  # the second pause held, and was healed

    out, err = signalled(proc, paused_twice, signal.SIGINT, interval=0.02, what="two pauses")
    assert proc.returncode == 0, out + err  # Ctrl-C is how a repeat without --cycles ends
    assert "Holding redis paused for 200ms every 600ms until Ctrl-C" in out
    done = int(re.search(r"(\d+) cycles? of pause redis", out).group(1))
    assert done >= 2 and out.count("✅ PASS redis recovered") == done
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert [f["action"] for f in journal["faults"]] == ["apply", "heal"] * done
    assert not service(home, "redis").is_paused()


def test_pause_postgres_freezes_it_for_the_duration(home):
    result = chaos(home, "pause", "--service", "postgres", "--duration", "1s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert 0.8 <= unavailable(result.stdout, "postgres") <= 3.0
    assert not service(home, "postgres").is_paused()


def test_kill_redis_starts_a_new_process_and_measures_it(home):
    before = service(home, "redis").pid
    result = chaos(home, "kill", "--service", "redis", "--duration", "500ms")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Killed redis (pid {before})" in result.stdout
    assert 0.4 <= unavailable(result.stdout, "redis") <= 5.0
    after = service(home, "redis")
    assert after.is_running() and after.pid != before


def test_kill_with_sigterm_lets_redis_exit_and_starts_it_again(home):
    before = service(home, "redis").pid
    result = chaos(home, "kill", "--service", "redis", "--signal", "TERM", "--duration", "500ms")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Killed redis (pid {before}) with SIGTERM" in result.stdout
    assert "survived" not in result.stdout
    assert service(home, "redis").pid != before


def test_stop_postgres_brings_it_back_after_the_duration(home):
    result = chaos(home, "stop", "--service", "postgres", "--duration", "500ms")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Stopped postgres" in result.stdout and "postgres started after" in result.stdout
    assert 0.4 <= unavailable(result.stdout, "postgres") <= 10.0
    assert service(home, "postgres").is_running()


def test_restart_redis_is_a_new_process_on_the_same_port(home):
    before = service(home, "redis")
    result = chaos(home, "restart", "--service", "redis")
    assert result.returncode == 0, result.stdout + result.stderr
    after = service(home, "redis")
    assert after.pid != before.pid and after.port == before.port
    assert "redis: no failed or hung sample" in result.stdout or "was unavailable" in result.stdout


def test_a_service_without_a_link_is_measured_by_its_process_state(home):
    result = chaos(home, "pause", "--service", "toxiproxy", "--duration", "500ms")
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(
        r"toxiproxy was unavailable for ([0-9.]+)s by its process state", result.stdout
    )
    assert found, result.stdout
    assert 0.3 <= float(found.group(1)) <= 3.0
    assert not service(home, "toxiproxy").is_paused()


def test_interval_repeats_the_action_for_each_cycle(home):
    result = chaos(
        home, "pause", "--service", "redis", "--duration", "300ms", "--interval", "1s",
        "--cycles", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Paused redis") == 2
    assert result.stdout.count("✅ PASS redis recovered") == 2
    assert "2 cycles of pause redis" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pause", "--service", "mongo"], "unknown service 'mongo'; this system has: postgres, redis, toxiproxy"),
        (["pause"], "--service is required; accepted: postgres, redis, toxiproxy"),
        (["kill", "--service", "redis", "--signal", "SIGFOO"], "accepted: SIGKILL, SIGTERM, SIGINT"),
        (["stop", "--service", "redis", "--duration", "nan"], "--duration='nan' is not a duration"),
        (["stop", "--service", "redis", "--duration", "-1"], "--duration='-1' is too short"),
        (["pause", "--service", "redis", "--duration", "2s", "--interval", "1s"], "must be shorter than --interval=1s"),
        (["pause", "--service", "redis", "--cycles", "2"], "--cycles needs --interval"),
    ],
)  # fmt: skip
def test_bad_flags_exit_2_saying_what_is_accepted(home, args, message):
    result = chaos(home, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert not service(home, "redis").is_paused()


def _wait_paused(home, name: str) -> None:
    wait_until(lambda: service(home, name).is_paused(), timeout=30, what=f"{name} to be paused")


def signalled(proc: subprocess.Popen, ready, sig: int, **wait) -> tuple[str, str]:
    """``sig`` to a running task once ``ready()`` holds; what the task then said."""
    try:
        wait_until(ready, timeout=30, **wait)
        proc.send_signal(sig)
        return proc.communicate(timeout=30)
    finally:
        proc.kill()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_hold_resumes_the_service(home, sig, code):
    proc = spawn_chaos(home, "pause", "--service", "redis", "--duration", "60s")
    out, err = signalled(proc, lambda: service(home, "redis").is_paused(), sig, what="redis paused")
    assert proc.returncode == code, out + err
    assert "redis resumed after" in out
    assert not service(home, "redis").is_paused()
    assert Ledger(home).entries() == []


def test_a_signal_during_the_apply_still_brings_it_back_and_says_so(home):
    # The ledger entry is written just before the pause: a signal then lands in the apply,
    # which Fault.apply heals itself, unseen by the runner (the CI flake of the test above).
    proc = spawn_chaos(home, "pause", "--service", "redis", "--duration", "60s")
    recorded = Ledger(home).entries
    out, err = signalled(proc, recorded, signal.SIGTERM, interval=0.001, what="the pause recorded")
    assert proc.returncode == 143, out + err
    assert "redis resumed after" in out and "Journal: " in out
    assert not service(home, "redis").is_paused()
    assert Ledger(home).entries() == []


def test_ctrl_c_ends_an_open_hold_and_measures_it(home):
    proc = spawn_chaos(home, "pause", "--service", "redis", "--duration", "0")
    said = Said(proc)
    try:
        # After "Paused": a Ctrl-C inside the apply is an interruption (the pause undoes
        # itself), not the hold's planned end; tests/unit/test_cli_conventions.py has it.
        wait_until(lambda: said("Paused redis"), timeout=30, what="the pause applied")
        proc.send_signal(signal.SIGINT)
        out, err = said.finish(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err  # Ctrl-C is how an open hold is meant to end
    assert "Holding redis paused until Ctrl-C" in out and "✅ PASS redis recovered" in out


def test_a_second_fault_on_a_held_service_is_refused_naming_its_owner(home):
    proc = spawn_chaos(home, "pause", "--service", "redis", "--duration", "60s")
    try:
        _wait_paused(home, "redis")
        second = chaos(home, "stop", "--service", "redis", "--duration", "1s")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert second.returncode == 2
    assert f"already has a fault held by pid {proc.pid} (pause redis)" in second.stderr
    assert "wait until it heals, or pass --overlap" in second.stderr


def test_redis_slow_on_named_commands_counts_what_matched_and_heals(home):
    # The task's probe sends PING through the link: naming it makes the probe match.
    result = chaos(home, "redis-slow", "--commands", "ping,GET", "--latency", "300",
                   "--duration", "1s", "--report-dir", str(home / "reports"))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "redis_command(commands=['PING', 'GET'], action=delay, delay_ms=300)" in result.stdout
    assert re.search(r"touched its links: matched [1-9]\d*, passed \d+", result.stdout)
    took = re.search(r"Probe command PING while it held: median (\d+) ms", result.stdout)
    assert took and 250 <= int(took.group(1)) <= 1500, result.stdout  # 300 ms injected
    assert all(not p.toxics for p in _proxies(home))


def test_redis_slow_fails_when_no_command_matched(home):
    result = chaos(home, "redis-slow", "--commands", "XADD", "--latency", "100",
                   "--duration", "500ms", "--report-dir", str(home / "reports"))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert '0 commands matched "XADD"' in result.stdout


def test_redis_slow_on_every_command_is_latency_both_ways(home):
    result = chaos(home, "redis-slow", "--latency", "100", "--duration", "500ms",
                   "--report-dir", str(home / "reports"))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "latency(latency=100, jitter=0) on redis [upstream+downstream]" in result.stdout
    took = re.search(r"Probe command PING while it held: median (\d+) ms", result.stdout)
    assert took and 170 <= int(took.group(1)) <= 1500, result.stdout  # 100 ms each way
    assert all(not p.toxics for p in _proxies(home))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--commands", "G3T"], "'G3T' is not a Redis command name"),
        (["--commands", "GET", "--jitter", "10"], "drop --jitter"),
        (["--latency", "fast"], "--latency='fast' is not a duration"),
    ],
)
def test_redis_slow_bad_flags_exit_2(home, args, message):
    result = chaos(home, "redis-slow", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def _proxies(home):
    from chaoslib.toxiproxy.client import Toxiproxy

    return Toxiproxy(Stack.load(home).proxy_url).proxies().values()


# -- the measurement itself, on a history written by hand ----------------------------------
def _probe(history, start: float, took: float, ok: bool = True) -> None:
    from chaoslib.observe.history import Event

    history.add(Event(start + took, "redis probe", "probe", ok, took))


def test_a_probe_held_by_a_paused_server_is_the_outage_not_a_quick_recovery():
    from chaoslib.cli.service_measure import Cycle, measure
    from chaoslib.observe.history import History

    history = History()
    for t in (0.0, 0.1, 0.2):
        _probe(history, t, 0.001)
    _probe(history, 0.35, 1.0)  # paused at 0.3, resumed at 1.3: the PING waited it out
    _probe(history, 1.45, 0.001)
    m = measure(history, "redis probe", Cycle(0.3, 0.31, 1.3, 1.33), slow=0.1)
    # The held PING's late answer (1.35) is slow, not the recovery: the next one is (1.451).
    assert m.unavailable == pytest.approx(1.101, abs=0.001)  # from 0.35 to 1.451
    assert m.detect == pytest.approx(0.15, abs=0.01)  # once it had waited 0.1 s
    assert m.recover == pytest.approx(0.121, abs=0.001)  # from back (1.33) to 1.451
    assert m.worst_wait == pytest.approx(1.0)


def test_a_service_fault_is_timed_by_the_fault_tasks_rule():
    # One rule for detect and recover: the service's numbers are measure.timing's; the
    # recovery is said from when the service was back rather than from the heal.
    from chaoslib.cli import measure as rule
    from chaoslib.cli.service_measure import Cycle, measure, slow_after
    from chaoslib.observe.history import History

    history = History()
    for t in (0.0, 0.1, 0.2):
        _probe(history, t, 0.004)
    _probe(history, 0.35, 0.003, ok=False)  # refused
    _probe(history, 0.5, 0.9)  # held, answered late
    _probe(history, 1.45, 0.002)
    slow = slow_after(history, "redis probe", 0.3)
    assert slow == pytest.approx(rule.slow_threshold(0.004, 0.0))
    cycle = Cycle(0.3, 0.31, 1.3, 1.33)
    m = measure(history, "redis probe", cycle, slow)
    t = rule.timing(rule.samples(history, "redis probe"), 0.3, 1.3, slow)
    assert m.detect == t.detected_at
    assert m.recover == pytest.approx(1.3 + t.recovered_at - 1.33)
    assert m.detect == pytest.approx(0.053, abs=0.001)  # the refusal, when it came back
    assert m.unavailable == pytest.approx(1.452 - 0.35, abs=0.001)


def test_refused_probes_are_detected_when_they_return_and_a_dead_service_never_recovers():
    from chaoslib.cli.service_measure import Cycle, measure
    from chaoslib.observe.history import History

    history = History()
    _probe(history, 0.0, 0.001)
    _probe(history, 0.5, 0.002, ok=False)
    _probe(history, 0.6, 0.002, ok=False)
    m = measure(history, "redis probe", Cycle(0.4, 0.45, 1.0, 1.1), slow=0.1)
    assert m.detect == pytest.approx(0.102, abs=0.001)
    assert m.unavailable is None and m.recover is None


def test_kill_signals_are_named_as_accepted_and_only_kill_takes_one(tmp_path):
    import signal as signals

    from chaoslib.errors import ConfigError
    from chaoslib.faults.service import ServiceFault, signal_named

    assert signal_named("term") is signals.SIGTERM
    assert signal_named("SIGHUP") is signals.SIGHUP
    assert signal_named("9") is signals.SIGKILL
    with pytest.raises(ConfigError, match="accepted: SIGKILL, SIGTERM"):
        signal_named("SIGSEGV")
    with pytest.raises(ConfigError, match="for kill only"):
        ServiceFault(object(), "pause", signal=signals.SIGTERM)  # type: ignore[arg-type]


def test_a_service_a_killed_task_left_stopped_is_started_by_reset(home):
    from tests.helpers import run_invoke

    task = spawn_chaos(home, "stop", "--service", "redis", "--duration", "60s")
    try:
        wait_until(lambda: Ledger(home).entries() and not service(home, "redis").is_running(),
                   timeout=30, what="redis to be stopped")  # fmt: skip
        task.kill()  # SIGKILL: no heal runs
        task.communicate(timeout=30)
        assert [e.description for e in Ledger(home).entries()] == ["stop redis"]
    finally:
        task.kill()
        reset = run_invoke(home, "chaos.reset")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert service(home, "redis").is_running()
    assert Ledger(home).entries() == []
