"""The reference system's rules alone: backoff, assignment decisions, the signal consumer's mark."""

from __future__ import annotations

import dataclasses
import random

import pytest

from chaoslib.examples.arbees.assignment import Registry
from chaoslib.examples.arbees.config import Settings
from chaoslib.examples.arbees.reconnect import backoff_ms
from chaoslib.examples.arbees.signals import SignalConsumer


@pytest.fixture
def settings(monkeypatch) -> Settings:
    for key in ("FRAGILE", "SHARD_TIMEOUT_SECS", "GAME_COUNT", "MAX_GAMES", "ZOMBIE_GRACE_SECS"):
        monkeypatch.delenv(key, raising=False)
    base = Settings.from_env("test")
    return dataclasses.replace(
        base, game_count=4, max_games=3, shard_timeout=60, zombie_grace=20, resync_debounce=5
    )


def heartbeat(shard: str, games=(), process: str = "p1", started: str = "t1") -> dict:
    return {
        "shard_id": shard,
        "process_id": process,
        "started_at": started,
        "games": list(games),
        "max_games": 3,
    }


def test_backoff_doubles_with_bounded_jitter_and_a_cap(settings):
    rng = random.Random(1)
    delays = [backoff_ms(n, settings, rng) for n in range(1, 9)]
    for n, delay in enumerate(delays[:4], start=1):
        assert (
            1000 * 2 ** (n - 1) * 0.9 <= delay <= 1000 * 2 ** (n - 1) * 1.1
        )  # 1s, 2s, 4s, 8s ± 10 %
    capped = dataclasses.replace(settings, reconnect_max_delay_ms=5000)
    assert max(backoff_ms(n, capped, rng) for n in range(1, 20)) <= 5500


def test_games_go_to_the_least_loaded_shard_within_capacity(settings):
    reg = Registry(settings)
    reg.heartbeat(heartbeat("a"), 0)
    reg.heartbeat(heartbeat("b"), 0)
    decisions = reg.assign_unassigned(0)
    assert len(decisions.commands) == 4
    assert sorted(len(reg.games_of(s)) for s in ("a", "b")) == [2, 2]


def test_dead_shard_is_detected_after_the_timeout_and_its_games_reassigned(settings):
    reg = Registry(settings)
    reg.heartbeat(heartbeat("a"), 0)
    reg.heartbeat(heartbeat("b"), 0)
    reg.assign_unassigned(0)
    a_games = reg.games_of("a")
    reg.heartbeat(heartbeat("b", reg.games_of("b")), 59)
    assert reg.check_health(59).logs == []
    decisions = reg.check_health(61)
    assert "Service a marked as Dead" in decisions.logs
    # b holds 2 of its 3 slots: one game moves, the other waits for room, and says so
    assert [c.payload["game_id"] for c in decisions.commands] == a_games[:1]
    assert all(c.shard_id == "b" for c in decisions.commands)
    assert f"No healthy shard has room for game {a_games[1]}" in decisions.logs


def test_no_reassign_leaves_games_on_the_dead_shard(settings):
    reg = Registry(dataclasses.replace(settings, fragile=frozenset({"no-reassign"})))
    reg.heartbeat(heartbeat("a"), 0)
    reg.heartbeat(heartbeat("b"), 0)
    reg.assign_unassigned(0)
    reg.heartbeat(heartbeat("b"), 59)
    assert reg.check_health(61).commands == []
    assert reg.assign_unassigned(61).commands == []


def test_restart_is_detected_once_unless_sticky(settings):
    for fragile, expected in ((frozenset(), 1), (frozenset({"sticky-restart"}), 3)):
        reg = Registry(dataclasses.replace(settings, fragile=fragile))
        reg.heartbeat(heartbeat("a"), 0)
        reg.assign_unassigned(0)
        logs = []
        for t in (1, 2, 3):
            logs += reg.heartbeat(
                heartbeat("a", reg.games_of("a"), process="p2", started="t2"), t
            ).logs
        assert sum("Detected restart: a" in line for line in logs) == expected


def test_missing_games_are_resent_after_the_debounce(settings):
    reg = Registry(settings)
    reg.heartbeat(heartbeat("a"), 0)
    reg.assign_unassigned(0)
    assert (
        reg.heartbeat(heartbeat("a"), 1).commands == []
    )  # within the debounce: commands in flight
    resent = reg.heartbeat(heartbeat("a"), 10)
    assert len(resent.commands) == 3 and "Resending 3 game assignments to shard a" in resent.logs


def test_zombies_are_removed_only_after_the_grace_period(settings):
    reg = Registry(settings)
    reg.heartbeat(heartbeat("a"), 0)
    reg.heartbeat(heartbeat("b"), 0)
    reg.assign_unassigned(0)
    stray = reg.games_of("b")[0]
    reg.heartbeat(heartbeat("a", [*reg.games_of("a"), stray]), 30)
    assert reg.zombies(30).commands == []  # first seen now
    decisions = reg.zombies(51)
    assert [c.payload for c in decisions.commands] == [{"type": "remove_game", "game_id": stray}]
    assert f"Zombie games detected on shard a: ['{stray}']" in decisions.logs
    off = Registry(dataclasses.replace(settings, fragile=frozenset({"no-zombie-cleanup"})))
    assert off.zombies(100).commands == []


def test_signal_consumer_tracks_the_highest_contiguous_sequence(settings):
    consumer = SignalConsumer(settings)
    for seq in (1, 2, 4, 5):
        consumer.accept("s", seq)
    assert consumer.contiguous["s"] == 2  # 3 is missing
    assert consumer.accept("s", 3) is True
    assert consumer.contiguous["s"] == 5
    assert consumer.accept("s", 2) is False  # a redelivery changes nothing


def test_unknown_fragile_flags_are_rejected(monkeypatch):
    monkeypatch.setenv("FRAGILE", "no-reassign,no-brakes")
    with pytest.raises(SystemExit, match="no-brakes"):
        Settings.from_env("x")
