"""The pytest plugin, used the way a test author would: faults heal at teardown, even on failure."""

from __future__ import annotations

pytest_plugins = ["pytester"]

INNER = """
import time
import redis

def test_fails_while_faults_hold(chaos):
    chaos.link("redis").latency(300)
    chaos.link("timescaledb").down()
    chaos.service("redis").pause()
    assert False, "deliberate failure with three faults held"

def test_everything_was_healed(chaos, toxiproxy, chaos_stack):
    assert all(p.enabled and not p.toxics for p in toxiproxy.proxies().values())
    assert all(s.is_running() and not s.is_paused() for s in chaos_stack.services.values())
    with redis.Redis.from_url(chaos.url("redis"), socket_timeout=2) as r:
        start = time.monotonic()
        assert r.ping()
        assert time.monotonic() - start < 0.2

def test_a_with_block_heals_on_exit(chaos, toxiproxy):
    with chaos.link("redis").down():
        assert not toxiproxy.get_proxy("redis").enabled
    assert toxiproxy.get_proxy("redis").enabled
"""


def test_faults_are_healed_at_teardown_even_when_the_test_fails(pytester):
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-q")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*deliberate failure with three faults held*"])


def test_the_running_stack_mode_says_how_to_start_one(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAOS_HOME", str(tmp_path / "no-stack"))
    pytester.makepyfile(test_inner="def test_x(chaos):\n    pass\n")
    result = pytester.runpytest_subprocess("--chaos-stack=running", "-q")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no stack is running: run `invoke stack.up` first*"])
