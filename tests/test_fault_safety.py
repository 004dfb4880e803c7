"""Faults never outlive their owner: SIGTERM, SIGINT and SIGHUP heal; after SIGKILL, chaos.reset does."""

from __future__ import annotations

import signal
import subprocess
import textwrap

import pytest

from chaoslib import stack as stack_mod
from chaoslib.faults.ledger import Ledger
from chaoslib.stack import StackConfig
from chaoslib.toxiproxy import Toxiproxy
from chaoslib.wait import WaitTimeout, wait_until
from tests.helpers import run_invoke, spawn_python

HOLDER = textwrap.dedent(
    """
    from chaoslib import schedule
    from chaoslib.environment import Environment
    from chaoslib.experiment import Experiment
    from chaoslib.faults import ServiceFault

    env = Environment.from_stack()
    exp = Experiment("hold", steady_for=0, observe_after=0)
    exp.add("slow", env.link("redis").latency(500), schedule.once(0, 600))
    exp.add("cut", env.link("timescaledb").down(), schedule.once(0, 600))
    exp.add("frozen", ServiceFault(env.service("redis"), "pause", ledger=env.ledger), schedule.once(0, 600))
    journal = exp.run()
    print("STATUS", journal.status, flush=True)
    """
)


@pytest.fixture(scope="module")
def detached_stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("safety-home")
    stack, _ = stack_mod.up(StackConfig(home=home))
    yield home, stack
    stack_mod.down(home)


def clean_state(home, stack) -> dict[str, object]:
    """Count what a leaked fault would leave, rather than eyeballing it."""
    tp = Toxiproxy(stack.proxy_url)
    proxies = tp.proxies().values()
    return {
        "toxics": sum(len(p.toxics) for p in proxies),
        "disabled_links": sum(1 for p in proxies if not p.enabled),
        "services_down": sum(1 for s in stack.services.values() if not s.is_running()),
        "services_paused": sum(1 for s in stack.services.values() if s.is_paused()),
        "ledger_entries": len(Ledger(home).entries()),
    }


CLEAN = {
    "toxics": 0,
    "disabled_links": 0,
    "services_down": 0,
    "services_paused": 0,
    "ledger_entries": 0,
}


HELD = {
    "toxics": 1,
    "disabled_links": 1,
    "services_down": 0,
    "services_paused": 1,
    "ledger_entries": 3,
}


def start_holder(home, stack) -> subprocess.Popen:
    proc = spawn_python(home, "-c", HOLDER)
    # The ledger is written before each apply, so wait for the faults' effects, not the entries.
    wait_until(
        lambda: clean_state(home, stack) == HELD or proc.poll() is not None,
        timeout=30,
        what="all three faults to be applied",
    )
    assert proc.poll() is None, proc.stderr.read()
    return proc


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_heals_every_fault(detached_stack, signum):
    home, stack = detached_stack
    proc = start_holder(home, stack)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert "STATUS interrupted" in out, err
    assert clean_state(home, stack) == CLEAN


def test_sigint_twice_still_heals_every_fault(detached_stack):
    home, stack = detached_stack
    proc = start_holder(home, stack)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    try:
        wait_until(lambda: clean_state(home, stack) == CLEAN, timeout=10, what="a clean state")
    except WaitTimeout:
        pytest.fail(f"left after a double SIGINT: {clean_state(home, stack)}\n{out}\n{err[-3000:]}")


def test_after_sigkill_chaos_reset_restores_a_clean_state(detached_stack):
    home, stack = detached_stack
    proc = start_holder(home, stack)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert clean_state(home, stack) == HELD  # SIGKILL healed nothing
    result = run_invoke(home, "chaos.reset", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "resumed redis" in result.stdout
    assert clean_state(home, stack) == CLEAN
