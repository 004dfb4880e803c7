"""Experiments end to end on the real stack: timeline, guaranteed heal, checks, journal."""

from __future__ import annotations

import json
import os
import signal

import pytest

from chaoslib.experiment import checks
from chaoslib.experiment.runner import Experiment, RunContext
from chaoslib.faults import Link, schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import LedgerEntry
from chaoslib.observe import redis_ping


@pytest.fixture
def redis_url(chaos_stack, toxiproxy):
    yield chaos_stack.link_urls()["redis"]["url"]
    toxiproxy.reset()


def probe_recovered(seconds: float):
    return lambda run: checks.recovered_within(
        run.history, "redis", seconds, healed_at=run.last_heal, fault_at=run.applied_at("cut")
    )


def build(redis_url, toxiproxy, check_seconds: float = 2.0) -> Experiment:
    exp = Experiment("cut-redis", steady_for=0.3, observe_after=1.0)
    exp.observers = [redis_ping(redis_url, name="redis", interval=0.05, deadline=1)]
    exp.add("cut", Link("redis", toxiproxy).down(), schedule.once(0.2, 0.5))
    exp.steady_state = [lambda run: checks.eventually(run.history, lambda e: e.ok is True, 1.0)]
    exp.checks = [probe_recovered(check_seconds)]
    return exp


def test_a_passing_experiment_writes_a_complete_journal(redis_url, toxiproxy, tmp_path):
    journal = build(redis_url, toxiproxy).run()
    assert journal.status == "passed", journal.error
    assert [(f.fault, f.action) for f in journal.faults] == [("cut", "apply"), ("cut", "heal")]
    window = journal.fault_window("cut")
    assert window[1] - window[0] == pytest.approx(0.5, abs=0.1)
    verdict = journal.verdicts[0]
    assert verdict.status == "pass" and verdict.measured is not None
    assert any(e.ok is False for e in journal.events)  # the outage was observed
    data = json.loads(journal.write(tmp_path / "journal.json").read_text())
    assert data["status"] == "passed"
    assert data["checks"][0]["name"] == verdict.name
    assert {
        "experiment",
        "profile",
        "timing",
        "faults",
        "events",
        "steady_state",
        "deviated",
    } <= set(data)
    assert all(p.enabled for p in toxiproxy.proxies().values())


def test_a_check_that_fails_makes_the_experiment_fail(redis_url, toxiproxy):
    exp = build(redis_url, toxiproxy)
    exp.checks.append(
        lambda run: checks.never(run.history, lambda e: e.ok is False, (0, 1e12), name="no outage")
    )
    journal = exp.run()
    assert journal.status == "failed"
    assert [v.status for v in journal.verdicts] == ["pass", "fail"]


def test_a_broken_steady_state_aborts_before_any_fault(redis_url, toxiproxy):
    exp = build(redis_url, toxiproxy)
    exp.steady_state = [lambda run: checks.Verdict("steady", "fail")]
    journal = exp.run()
    assert journal.status == "aborted" and journal.deviated
    assert journal.faults == ()


class _Exploding(Fault):
    name = "boom"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("toxic", {"api": "", "proxy": "", "toxics": []}, "boom")

    def _apply(self) -> None:
        raise RuntimeError("cannot apply")

    def _heal(self) -> None:
        pass


def test_an_error_mid_timeline_still_heals_every_fault(redis_url, toxiproxy):
    exp = build(redis_url, toxiproxy)
    exp.add("boom", _Exploding(), schedule.once(0.4, 0.5))  # fails while "cut" holds
    journal = exp.run()
    assert journal.status == "aborted"
    assert "cannot apply" in journal.error
    assert ("cut", "heal") in [(f.fault, f.action) for f in journal.faults]
    assert all(p.enabled for p in toxiproxy.proxies().values())


class _Stuck(Fault):
    """Applies, then cannot be healed: what a proxy that went away leaves."""

    name = "stuck"

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("toxic", {"api": "", "proxy": "", "toxics": []}, "stuck")

    def _apply(self) -> None:
        pass

    def _heal(self) -> None:
        raise RuntimeError("the proxy is gone")


def test_a_fault_that_could_not_be_healed_is_never_a_pass(redis_url, toxiproxy):
    # Before: heal_all's failures were dropped, and every check passing made it "passed".
    # Held until stopped: the heal comes from the final heal_all, not from the timeline.
    exp = build(redis_url, toxiproxy)
    exp.add("stuck", _Stuck(), schedule.until_stopped())
    exp.on_fault = lambda name, action, at: exp.stop() if name == "stuck" else None
    journal = exp.run()
    assert journal.status == "aborted", journal.status
    assert "could not heal: stuck" in journal.error and "the proxy is gone" in journal.error
    assert any(f.fault == "stuck" and f.action == "heal" and f.error for f in journal.faults)


def test_run_context_reports_fault_times():
    from chaoslib.experiment.journal import FaultEvent

    ctx = RunContext(
        history=None,
        faults=[FaultEvent("a", "apply", 1.0, 0, ""), FaultEvent("a", "heal", 2.0, 0, "")],
    )
    assert (ctx.applied_at("a"), ctx.healed_at("a"), ctx.last_heal) == (1.0, 2.0, 2.0)
    assert ctx.applied_at("b") is None


class _CtrlC(Fault):
    """Presses Ctrl-C on this very process when applied and/or while being healed."""

    def __init__(self, name: str, *, on_apply: bool, on_heal: bool) -> None:
        super().__init__()
        self.name, self.on_apply, self.on_heal = name, on_apply, on_heal

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("toxic", {"api": "", "proxy": "", "toxics": []}, self.name)

    def _apply(self) -> None:
        if self.on_apply:
            os.kill(os.getpid(), signal.SIGINT)

    def _heal(self) -> None:
        if self.on_heal:
            os.kill(os.getpid(), signal.SIGINT)


def test_a_second_ctrl_c_during_the_heals_still_heals_every_fault(redis_url, toxiproxy):
    # The second Ctrl-C lands while the first fault heals: the remaining heals must still run.
    exp = Experiment("ctrl-c-twice", steady_for=0, observe_after=0)
    exp.add("second", _CtrlC("second", on_apply=False, on_heal=True), schedule.once(0, 600))
    exp.add("cut", Link("redis", toxiproxy).down(), schedule.once(0, 600))
    exp.add("first", _CtrlC("first", on_apply=True, on_heal=False), schedule.once(0.2, 600))
    journal = exp.run()
    assert journal.status == "interrupted"
    healed = [f.fault for f in journal.faults if f.action == "heal"]
    assert healed == ["second", "cut"], healed
    assert all(p.enabled for p in toxiproxy.proxies().values())


# -- inconclusive: a check that lacks a fact is unknown, never a fail --------------------

NO_STREAM = "the profile declares no signal stream"


def _judged(*checks_or_verdicts: checks.Verdict, steady: tuple = ()) -> Experiment:
    """An experiment with no faults or observers whose checks return these verdicts."""
    from chaoslib.clock import ManualClock

    exp = Experiment("judged", steady_for=0, observe_after=0, clock=ManualClock())
    exp.steady_state = [lambda run, v=v: v for v in steady]
    exp.checks = [lambda run, v=v: v for v in checks_or_verdicts]
    return exp


def test_pass_and_unknown_checks_make_the_experiment_inconclusive_not_failed(tmp_path):
    journal = _judged(
        checks.Verdict("recovered", "pass"),
        checks.Verdict("no loss", "unknown", evidence=NO_STREAM),
    ).run()
    assert journal.status == "inconclusive" and not journal.passed
    assert journal.error is None and not journal.deviated
    data = json.loads(journal.write(tmp_path / "journal.json").read_text())
    assert data["status"] == "inconclusive"
    assert [(c["status"], c["evidence"]) for c in data["checks"]][1] == ("unknown", NO_STREAM)


def test_a_fail_among_pass_and_unknown_checks_makes_the_experiment_failed():
    journal = _judged(
        checks.Verdict("recovered", "pass"),
        checks.Verdict("no loss", "unknown", evidence=NO_STREAM),
        checks.Verdict("no crash", "fail", evidence="shard_01 exited"),
    ).run()
    assert journal.status == "failed"


def test_an_unknown_steady_state_with_passing_checks_is_inconclusive():
    steady = (checks.Verdict("steady", "unknown", evidence="no heartbeat key declared"),)
    journal = _judged(checks.Verdict("recovered", "pass"), steady=steady).run()
    assert journal.status == "inconclusive" and not journal.deviated


def test_passing_checks_pass_and_no_checks_at_all_still_pass():
    assert _judged(checks.Verdict("a", "pass"), checks.Verdict("b", "pass")).run().passed
    assert _judged().run().status == "passed"


def test_chaos_run_of_an_inconclusive_experiment_exits_3_and_journals_it(chaos_stack, tmp_path):
    from tests.helpers import run_invoke

    # A ping observer writes nothing, so no_loss over it has no acknowledged write to judge.
    experiment = tmp_path / "ping-only.yml"
    experiment.write_text(
        "name: ping-only\nsteady_for: 0.2\nobserve_after: 0.5\n"
        "observers:\n  - {type: redis_ping, name: redis, link: redis, interval: 0.05}\n"
        "faults:\n  - {name: cut, type: down, link: redis, at: 0, for: 0.3}\n"
        "checks:\n  - {type: recovered_within, observer: redis, fault: cut, seconds: 5}\n"
        "  - {type: no_loss, workload: redis, name: nothing written}\n"
    )
    journal = tmp_path / "journal.json"
    result = run_invoke(chaos_stack.home, "chaos.run", str(experiment), "--journal", str(journal))
    said = result.stdout + result.stderr
    assert result.returncode == 3, said
    data = json.loads(journal.read_text())
    assert data["status"] == "inconclusive", data["checks"]
    assert [c["status"] for c in data["checks"]] == ["pass", "unknown"]
    assert "ping-only: inconclusive" in result.stdout
    assert "no write was acknowledged" in result.stdout
