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


USERS_OWN = """
import pytest

@pytest.fixture(scope="module")
def users_own(toxiproxy):
    # Made straight through the Toxiproxy API before any chaos fault, as a user does:
    # a toxic on a chaoslib link and a link of the user's own, disabled.
    toxiproxy.add_toxic("redis", "latency", name="users_latency", attributes={"latency": 5})
    upstream = toxiproxy.get_proxy("redis").upstream
    toxiproxy.create_proxy("users_link", upstream, enabled=False)
    yield
    toxiproxy.remove_toxic("redis", "users_latency")
    toxiproxy.delete_proxy("users_link")

def test_applies_faults_next_to_the_users_own(users_own, chaos, toxiproxy):
    chaos.link("redis").latency(300)
    chaos.link("timescaledb").down()
    assert len(toxiproxy.toxics("redis")) == 2
    assert not toxiproxy.get_proxy("timescaledb").enabled

def test_the_cleanup_removed_only_the_plugins_faults(users_own, toxiproxy):
    assert [t.name for t in toxiproxy.toxics("redis")] == ["users_latency"]
    assert toxiproxy.get_proxy("timescaledb").enabled
    assert not toxiproxy.get_proxy("users_link").enabled
"""


def test_the_cleanup_heals_only_what_the_test_applied(pytester):
    pytester.makepyfile(test_inner=USERS_OWN)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-q")
    result.assert_outcomes(passed=2)


def test_every_fixture_of_the_plugin_has_a_docstring(pytester):
    result = pytester.runpytest_subprocess("--fixtures")
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "from chaoslib.pytest_plugin" in line)
    section = lines[start + 1 :]
    end = next((i for i, line in enumerate(section) if line.startswith("---")), len(section))
    section = section[:end]
    names = [line.split()[0] for line in section if line and not line.startswith(" ")]
    undocumented = [
        name
        for name, following in zip(names, _following(section), strict=True)
        if "no docstring available" in following
    ]
    assert {"chaos", "chaos_stack", "toxiproxy"} <= set(names), section
    assert undocumented == [], "\n".join(section)


def _following(section: list[str]) -> list[str]:
    """For each fixture line of a ``--fixtures`` section: the indented text under it."""
    found: list[str] = []
    for line in section:
        if line and not line.startswith(" "):
            found.append("")
        elif found:
            found[-1] += line + "\n"
    return found
