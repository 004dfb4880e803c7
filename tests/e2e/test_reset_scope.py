"""``chaos.reset`` removes what chaoslib applied and nothing of the user's, unless ``--all``.

A real stack started by ``invoke stack.up``. The user's own state is made straight
through the Toxiproxy API, as a user does: a toxic on a chaoslib link and a link of
their own, disabled. chaoslib's is a fault held by a child process that is then
SIGKILLed (so only the ledger knows it), and a toxic named as chaoslib names its
toxics that no ledger entry lists (what a damaged ledger leaves).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from pathlib import Path

import pytest

from chaoslib.faults.ledger import Ledger, LedgerError
from chaoslib.faults.recovery import FAILED
from chaoslib.services.stack import Stack
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError
from tests.helpers import run_invoke, spawn_python

# A fault applied the way any chaoslib front end applies one, then held until SIGKILL.
HOLDER = """
import sys, time
from chaoslib.target import open_target
target = open_target(None)
target.link("redis").latency(200).apply()
target.link("timescaledb").down().apply()
print("APPLIED", flush=True)
time.sleep(600)  # ok: held until the test SIGKILLs this process
"""


def said(result: subprocess.CompletedProcess) -> str:
    return " ".join((result.stdout + result.stderr).split())


@pytest.fixture(scope="module")
def stack_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("reset-scope") / "home"
    result = run_invoke(home, "stack.up", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    yield home
    run_invoke(home, "stack.down", timeout=120)


@pytest.fixture
def proxy(stack_home, monkeypatch) -> Toxiproxy:
    monkeypatch.setenv("CHAOS_HOME", str(stack_home))
    return Toxiproxy(Stack.load(stack_home).proxy_url, timeout=5)


@pytest.fixture
def users_own(proxy):
    """The user's toxic on ``redis`` and the user's own link, disabled; removed after."""
    proxy.add_toxic("redis", "latency", name="users_latency", attributes={"latency": 5})
    proxy.create_proxy("users_link", proxy.get_proxy("redis").upstream, enabled=False)
    yield
    with contextlib.suppress(ToxiproxyError):  # --all removed it: what that test checks
        proxy.remove_toxic("redis", "users_latency")
    proxy.delete_proxy("users_link")


def crash_holding_faults(home: Path, proxy: Toxiproxy) -> None:
    """A chaoslib run that applied a toxic and a link down, then died by SIGKILL."""
    child = spawn_python(home, "-c", HOLDER)
    try:
        line = child.stdout.readline()
        assert line.startswith("APPLIED"), line + child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    assert len(Ledger(home).entries()) == 2
    assert not proxy.get_proxy("timescaledb").enabled


def names(proxy: Toxiproxy, link: str) -> list[str]:
    return sorted(t.name for t in proxy.toxics(link))


def test_reset_heals_a_crashed_runs_faults_and_leaves_the_users_own(stack_home, proxy, users_own):
    crash_holding_faults(stack_home, proxy)
    assert len(names(proxy, "redis")) == 2
    result = run_invoke(stack_home, "chaos.reset")
    text = said(result)
    assert result.returncode == 0, text
    assert FAILED not in text and "Traceback" not in text
    assert names(proxy, "redis") == ["users_latency"]
    assert proxy.get_proxy("timescaledb").enabled
    assert not proxy.get_proxy("users_link").enabled
    assert Ledger(stack_home).entries() == []
    assert "left alone: redis has toxics chaoslib did not apply (users_latency)" in text
    assert "left alone: users_link is disabled, and not by chaoslib" in text
    assert "chaos.reset --all" in text


def test_reset_removes_a_toxic_named_as_chaoslibs_that_no_ledger_entry_lists(
    stack_home, proxy, users_own
):
    proxy.add_toxic("redis", "latency", name="chaos_latency_downstream_0ld0ne",
                    attributes={"latency": 100})  # fmt: skip
    assert Ledger(stack_home).entries() == []
    result = run_invoke(stack_home, "chaos.reset")
    assert result.returncode == 0, said(result)
    assert names(proxy, "redis") == ["users_latency"]
    assert "removed chaos_latency_downstream_0ld0ne from redis" in said(result)


def test_reset_all_removes_the_users_own_too(stack_home, proxy, users_own):
    crash_holding_faults(stack_home, proxy)
    result = run_invoke(stack_home, "chaos.reset", "--all")
    text = said(result)
    assert result.returncode == 0, text
    assert FAILED not in text
    assert names(proxy, "redis") == []
    assert all(p.enabled for p in proxy.proxies().values())
    assert "every toxic removed, the user's own included" in text
    assert Ledger(stack_home).entries() == []


def test_the_reset_help_says_what_all_removes(stack_home):
    result = run_invoke(stack_home, "--help", "chaos.reset")
    assert result.returncode == 0, said(result)
    assert "--all" in result.stdout and "not applied by chaoslib" in said(result)


def test_a_damaged_ledger_says_a_reset_keeps_the_users_own_unless_all(tmp_path):
    # Before: "run invoke chaos.reset: on the embedded stack that clears every toxic and
    # disabled link through the proxy's /reset", which only --all does now.
    (tmp_path / "ledger.json").write_text("[]")
    with pytest.raises(LedgerError) as caught:
        Ledger(tmp_path).entries()
    text = " ".join(str(caught.value).split())
    assert "is not a ledger" in text and "chaoslib left it as it is" in text
    assert text.endswith(
        "then run chaos.reset (with --all it also clears every toxic and disabled link "
        "through the proxy's /reset, a user's own included)."
    )
