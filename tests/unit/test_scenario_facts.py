"""Facts the scenarios read from heartbeats: reaching the steady state, and keeping it."""

from __future__ import annotations

from chaoslib.profiles.contract import Beat, HeartbeatDef
from chaoslib.scenarios import facts

HB = HeartbeatDef(channel="w:*", worker="id", items="items", status="s", healthy=("ok",))


def beat(t: float, worker: str, *items: str, status: str = "ok") -> Beat:
    return Beat(t, worker, frozenset(items), status=status)


def test_steady_is_reached_when_every_item_is_on_exactly_one_healthy_worker():
    found = [beat(1, "a", "x"), beat(1.1, "b", "x", "y"), beat(2, "b", "y"), beat(2.2, "a", "x")]
    assert facts.steady_at(found, HB, 0.5, {"x", "y"}, fresh=5) == 2
    sick = [*found[:2], beat(2, "b", "y", status="degraded"), beat(2.2, "a", "x")]
    assert facts.steady_at(sick, HB, 0.5, {"x", "y"}, fresh=5) is None


def test_a_steady_state_that_breaks_again_is_found_with_what_broke_it():
    calm = [beat(1, "a", "x"), beat(1.1, "b", "y"), beat(2, "a", "x"), beat(2.1, "b", "y")]
    assert facts.broken_after(calm, HB, 1.1, {"x", "y"}, fresh=5) is None
    doubled = [*calm, beat(3, "a", "x", "y")]
    assert facts.broken_after(doubled, HB, 1.1, {"x", "y"}, fresh=5) == (3, "y on two workers")
    lost = [*calm, beat(3, "b")]
    assert facts.broken_after(lost, HB, 1.1, {"x", "y"}, fresh=5) == (3, "y on no worker")
    counted = [*calm, beat(3, "b")]
    assert facts.broken_after(counted, HB, 1.1, 2, fresh=5) == (3, "1 items on no worker")


def test_a_heartbeat_older_than_fresh_no_longer_counts():
    # b's last heartbeat at 1.1 is stale at t=9 (fresh 5): y is then on no worker.
    found = [beat(1, "a", "x"), beat(1.1, "b", "y"), beat(9, "a", "x")]
    assert facts.broken_after(found, HB, 1.1, {"x", "y"}, fresh=5) == (9, "y on no worker")


def test_a_services_lines_are_not_mixed_with_the_alert_files_lines_of_the_same_key():
    # The monitor's line and the alert file's line both carry the key all_workers_unhealthy:
    # counting raises must count the service's lines only.
    from chaoslib.observe.history import Event, History

    history = History()
    history.add(Event(1.0, "log:dispatch", "log", True, "all_workers_unhealthy", "blind"))
    history.add(Event(1.1, facts.ALERT_FILE, "log", True, "all_workers_unhealthy", "alarm"))
    assert [e.source for e in facts.log_lines(history, None, "all_workers_unhealthy")] == [
        "log:dispatch"
    ]
    assert len(facts.file_alerts(history, "all_workers_unhealthy")) == 1
