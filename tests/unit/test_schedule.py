"""Schedules are pure: offsets, flap cycles and seeded jitter, tested without sleeping."""

from __future__ import annotations

import pytest

from chaoslib.clock import ManualClock
from chaoslib.errors import ConfigError
from chaoslib.faults import schedule


def test_flap_windows_follow_the_period():
    windows = schedule.flap(period=4, down_for=1, cycles=3, at=2)
    assert windows == [schedule.Window(2, 3), schedule.Window(6, 7), schedule.Window(10, 11)]


def test_seeded_jitter_repeats_and_stays_inside_the_period():
    a = schedule.flap(10, 2, 20, jitter=3, seed=7)
    b = schedule.flap(10, 2, 20, jitter=3, seed=7)
    c = schedule.flap(10, 2, 20, jitter=3, seed=8)
    assert a == b and a != c
    for first, second in zip(a, a[1:], strict=False):
        assert first.end <= second.start  # never overlapping
    assert all(w.duration == pytest.approx(2) for w in a)
    assert a[0].start >= 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period": 0, "down_for": 1, "cycles": 1}, "period must be > 0"),
        ({"period": 2, "down_for": 2, "cycles": 1}, "down time must be > 0 and < the period"),
        ({"period": 2, "down_for": 1, "cycles": 0}, "cycles must be 1 or more"),
        ({"period": 2, "down_for": 1, "cycles": 1, "jitter": -1}, "jitter must be >= 0"),
    ],
)
def test_bad_flap_settings_are_rejected(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        schedule.flap(**kwargs)


def test_timeline_orders_actions_and_heals_before_applies_at_the_same_instant():
    plan = schedule.timeline({"a": [schedule.Window(0, 2)], "b": [schedule.Window(2, 3)]})
    assert [(p.at, p.verb, p.fault) for p in plan] == [
        (0, "apply", "a"),
        (2, "heal", "a"),
        (2, "apply", "b"),
        (3, "heal", "b"),
    ]
    assert (
        schedule.total_duration({"a": [schedule.Window(0, 2)], "b": [schedule.Window(2, 3)]}) == 3
    )


def test_once_rejects_negative_times():
    with pytest.raises(ConfigError):
        schedule.once(-1, 2)


def test_manual_clock_moves_only_when_slept_on():
    clock = ManualClock()
    assert clock.now() == 0
    clock.sleep(1.5)
    assert clock.now() == 1.5 and clock.slept == [1.5]
