"""The orchestrator judges a shard's silence only while it could have heard it.

At the guide's timings a 30 s Redis outage with a 1+2+4+8+16 s backoff can reconnect the
orchestrator only at 60 s (its sixth attempt lands just before Redis is back, the next one
32 s later): it marked both live shards Dead, moved games, and two shards then held the same
six games at once.
"""

from __future__ import annotations

import dataclasses

import pytest

from chaoslib.examples.arbees.assignment import Registry
from chaoslib.examples.arbees.config import Settings
from chaoslib.faults import Link
from chaoslib.wait import wait_until
from tests.arbees_harness import ALL_GAMES, System


@pytest.fixture
def settings(monkeypatch) -> Settings:
    for key in ("FRAGILE", "SHARD_TIMEOUT_SECS", "GAME_COUNT", "MAX_GAMES"):
        monkeypatch.delenv(key, raising=False)
    return dataclasses.replace(
        Settings.from_env("test"), game_count=4, max_games=4, shard_timeout=60
    )


def heartbeat(shard: str, games=()) -> dict:
    return {"shard_id": shard, "process_id": "p1", "started_at": "t1", "games": list(games)}


def test_silence_while_deaf_is_not_a_dead_shard_and_counts_from_the_resubscription(settings):
    reg = Registry(settings)
    reg.listening(0)
    reg.heartbeat(heartbeat("a"), 0)
    reg.heartbeat(heartbeat("b"), 0)
    reg.deaf()  # the orchestrator's own subscription dropped at 1 s
    assert reg.check_health(61).logs == []  # 61 s without a heartbeat, none of them audible
    reg.listening(62)
    reg.heartbeat(heartbeat("b"), 63)
    assert reg.check_health(121).logs == []  # a: 59 s of audible silence
    assert reg.check_health(123).logs[0] == "Service a marked as Dead"  # a really is gone


def _disjoint_and_complete(system: System) -> bool:
    games = system.latest_games()
    held = [g for shard in ("shard_01", "shard_02") for g in games.get(shard, ())]
    return sorted(held) == sorted(ALL_GAMES) and all(games.get(s) for s in ("shard_01", "shard_02"))


def test_an_orchestrator_cut_off_from_redis_marks_no_live_shard_dead(
    tmp_path, chaos_stack, toxiproxy
):
    links = chaos_stack.link_urls()
    # The shards reach Redis directly and keep heart-beating; only the orchestrator's way to
    # Redis goes through the link that is cut, as when its reconnect lags theirs.
    system = System(tmp_path, links["redis"]["upstream"], links["timescaledb"]["url"])
    try:
        with system:
            system.shard("shard_01")
            system.shard("shard_02")
            system.start("orchestrator", "orchestrator", REDIS_URL=links["redis"]["url"])
            wait_until(lambda: _disjoint_and_complete(system), timeout=20, what="games spread")
            with Link("redis", toxiproxy).down():
                # The 7th failed attempt comes after 0.1+0.2+0.4+0.8+1+1 s (±10 %) of backoff:
                # deaf for twice the 1.5 s shard timeout and many 0.25 s health checks.
                wait_until(
                    lambda: "Failed to connect (attempt 7)" in system.log("orchestrator"),
                    timeout=30,
                    what="the orchestrator deaf for longer than the shard timeout",
                )
            wait_until(
                lambda: (
                    "Successfully connected (total reconnects: 1)" in system.log("orchestrator")
                ),
                timeout=10,
                what="the orchestrator back",
            )
            back = system.history.select(source="hb")[-1].t
            # Heartbeats for longer than a shard timeout after it is back: a silence counted
            # from before the cut would have marked them by then.
            wait_until(
                lambda: system.history.select(source="hb")[-1].t - back > 2.5,
                timeout=10,
                what="heartbeats for 2.5 s after the reconnect",
            )
            log = system.log("orchestrator")
            assert "marked as Dead" not in log, log[log.find("marked as Dead") - 200 :][:1200]
            assert _disjoint_and_complete(system), system.latest_games()
    finally:
        toxiproxy.reset()
