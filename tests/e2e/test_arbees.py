"""The reference system against real Redis and PostgreSQL, its services as real subprocesses.

Each behaviour is checked from the source (heartbeats on Redis, webhook
deliveries, rows), the log lines as evidence; each FRAGILE flag is shown to
produce the defect it names.
"""

from __future__ import annotations

import pytest

from chaoslib.faults import Link
from chaoslib.observe import History, webhook_sink
from chaoslib.wait import wait_until
from tests.arbees_harness import ALL_GAMES, System, running_system


@pytest.fixture
def urls(chaos_stack, toxiproxy):
    links = chaos_stack.link_urls()
    yield links["redis"]["url"], links["timescaledb"]["url"]
    toxiproxy.reset()


def test_games_are_spread_over_both_shards_exactly_once(tmp_path, urls):
    import psycopg
    import redis

    with running_system(tmp_path, urls) as system:
        games = system.latest_games()
        assert games["shard_01"] and games["shard_02"]
        assert not games["shard_01"] & games["shard_02"]  # never on two shards
        assert "Subscribed to shard:*:heartbeat" in system.log("orchestrator")
        system.start("signals", "signals")
        with redis.Redis.from_url(urls[0]) as r:
            wait_until(
                lambda: int(r.get("signals:contiguous:shard_01") or 0) >= 3,
                timeout=10,
                what="the signal consumer's contiguous mark",
            )
        with psycopg.connect(urls[1], connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT count(DISTINCT game_id) FROM game_states WHERE shard_id = 'shard_01'"
            )
            assert rows.fetchone()[0] >= len(games["shard_01"])


@pytest.mark.parametrize("fragile", ["", "no-reassign"])
def test_a_dead_shards_games_move_to_the_healthy_one(tmp_path, urls, fragile):
    with running_system(tmp_path, urls, FRAGILE=fragile) as system:
        lost = system.latest_games()["shard_01"]
        system.procs["shard_01"].kill()
        wait_until(
            lambda: "Service shard_01 marked as Dead" in system.log("orchestrator"), timeout=10
        )
        if fragile:
            wait_until(
                lambda: system.log("orchestrator").count("Service shard_01 marked as Dead"),
                timeout=1,
            )
            settled = system.history.select(source="hb", kind="message")[-1].t + 1.0
            wait_until(lambda: system.history.select(source="hb", since=settled), timeout=5)
            assert not lost <= system.latest_games()["shard_02"]
            assert "Reassigning game" not in system.log("orchestrator")
            return
        # SHARD_TIMEOUT_SECS 1.5 + one health interval 0.25, with margin for the heartbeat to show it
        wait_until(
            lambda: system.latest_games()["shard_02"] == ALL_GAMES,
            timeout=3.5,
            what="every game on shard_02",
        )
        assert "Reassigning game" in system.log("orchestrator")


@pytest.mark.parametrize("fragile", ["", "sticky-restart"])
def test_a_restart_is_detected_once_and_resynced(tmp_path, urls, fragile):
    with running_system(tmp_path, urls, FRAGILE=fragile) as system:
        games = system.latest_games()["shard_01"]
        system.procs["shard_01"].stop()
        system.shard("shard_01")
        wait_until(lambda: "Resync complete: shard_01" in system.log("orchestrator"), timeout=10)
        wait_until(
            lambda: system.latest_games()["shard_01"] == games, timeout=5, what="the resynced games"
        )
        mark = len(system.history.select(source="hb"))
        wait_until(lambda: len(system.history.select(source="hb")) > mark + 8, timeout=10)
        detected = system.log("orchestrator").count("Detected restart: shard_01")
        if fragile:
            assert detected > 3  # every heartbeat looks like a restart
        else:
            assert detected == 1


@pytest.mark.parametrize("fragile", ["", "no-zombie-cleanup"])
def test_a_stale_game_on_a_shard_is_removed_after_the_grace_period(
    tmp_path, urls, fragile, chaos_stack
):
    import redis

    with running_system(tmp_path, urls, FRAGILE=fragile) as system:
        zombie = sorted(system.latest_games()["shard_02"])[0]
        with redis.Redis.from_url(urls[0]) as r:
            r.publish("shard:shard_01:command", f'{{"type": "add_game", "game_id": "{zombie}"}}')
        wait_until(
            lambda: zombie in system.latest_games()["shard_01"], timeout=5, what="the injected game"
        )
        if fragile:
            settled = system.history.select(source="hb")[-1].t + 2.0
            wait_until(lambda: system.history.select(source="hb", since=settled), timeout=5)
            assert zombie in system.latest_games()["shard_01"]
            return
        wait_until(
            lambda: zombie not in system.latest_games()["shard_01"],
            timeout=5,
            what="zombie removal",
        )
        log = system.log("orchestrator")
        assert (
            "Zombie games detected on shard shard_01" in log
            and f"Removing zombie game {zombie}" in log
        )
        assert zombie in system.latest_games()["shard_02"]  # the real owner keeps it


@pytest.mark.parametrize("fragile", ["", "no-alerts"])
def test_database_outage_alerts_once_keeps_running_and_recovers(tmp_path, urls, toxiproxy, fragile):
    history = History()
    with (
        webhook_sink(history) as sink,
        running_system(tmp_path, urls, FRAGILE=fragile, SLACK_WEBHOOK_URL=sink.url) as system,
    ):
        with Link("timescaledb", toxiproxy).down():
            wait_until(
                lambda: "Database health check failed (attempt 5/3)" in system.log("orchestrator"),
                timeout=15,
                what="failed health checks past the threshold",
            )
        wait_until(
            lambda: "Database connection recovered" in system.log("orchestrator"), timeout=10
        )
        assert all(proc.is_running() for proc in system.procs.values())
        texts = [d.value["text"] for d in history.select(kind="delivery")]
        db_alerts = [t for t in texts if "DatabaseConnectivityIssue" in t]
        assert len(db_alerts) == (0 if fragile else 1)
        if not fragile:
            line = (tmp_path / "critical_alerts.log").read_text().splitlines()[0]
            assert (
                " | database_connectivity_issue | " in line and "DatabaseConnectivityIssue" in line
            )


def test_alerts_are_rate_limited_per_type(tmp_path):
    import asyncio

    from chaoslib.examples.arbees.alerts import Alerts
    from chaoslib.examples.arbees.config import Settings

    history = History()
    with webhook_sink(history) as sink:
        settings = Settings.from_env("test")
        settings = type(settings)(
            **{
                **settings.__dict__,
                "slack_webhook_url": sink.url,
                "alert_log_path": str(tmp_path / "alerts.log"),
                "fragile": frozenset(),
            }
        )
        alerts = Alerts(settings)

        async def fire() -> list[bool]:
            return [
                await alerts.send("all_shards_unhealthy", "x"),
                await alerts.send("all_shards_unhealthy", "y"),
                await alerts.send("redis_connectivity_issue", "z"),
            ]

        assert asyncio.run(fire()) == [True, False, True]
        wait_until(lambda: len(history.select(kind="delivery")) == 2, timeout=5)
    payload = history.select(kind="delivery")[0].value
    assert (
        payload["username"] == "Arbees Critical Alerts"
        and payload["icon_emoji"] == ":rotating_light:"
    )
    assert len((tmp_path / "alerts.log").read_text().splitlines()) == 2


@pytest.mark.parametrize("fragile", ["", "no-reconnect"])
def test_services_reconnect_after_a_redis_outage(tmp_path, urls, toxiproxy, fragile):
    with running_system(tmp_path, urls, FRAGILE=fragile) as system:
        with Link("redis", toxiproxy).down():
            wait_until(
                lambda: (
                    "Redis disconnected, reconnecting" in system.log("shard_01")
                    or "not reconnecting" in system.log("shard_01")
                ),
                timeout=10,
            )
            if not fragile:  # hold the cut until a retry shows, so the backoff is seen
                wait_until(lambda: "Retrying in" in system.log("shard_01"), timeout=10)
        if fragile:
            wait_until(
                lambda: "not reconnecting (FRAGILE=no-reconnect)" in system.log("shard_01"),
                timeout=5,
            )
            healed = system.history.select(source="hb")[-1].t
            heard = system.history.wait_for(
                lambda e: (
                    e.kind == "message" and e.t > healed and e.value.get("shard_id") == "shard_01"
                ),
                2.0,
            )
            assert heard is None  # deaf and silent for good
            assert system.procs[
                "shard_01"
            ].is_running()  # the defect is quiet: the process lives on
            return
        wait_until(
            lambda: "Successfully connected (total reconnects: 1)" in system.log("shard_01"),
            timeout=10,
        )
        assert "Retrying in" in system.log("shard_01")  # backoff was visible
        since = system.history.select(source="hb")[-1].t
        wait_until(
            lambda: (
                {
                    e.value["shard_id"]
                    for e in system.history.select(source="hb", kind="message", since=since)
                }
                >= {"shard_01"}
            ),
            timeout=10,
            what="heartbeats again",
        )
        assert all(proc.is_running() for proc in system.procs.values())


@pytest.mark.parametrize("fragile", ["", "no-db-retry"])
def test_writes_are_retried_through_a_short_database_outage(tmp_path, urls, toxiproxy, fragile):
    with running_system(tmp_path, urls, FRAGILE=fragile) as system:
        with Link("timescaledb", toxiproxy).down():
            wait_until(lambda: "Database write" in system.log("shard_01"), timeout=10)
        if fragile:
            wait_until(lambda: "gave up after 1 attempt(s)" in system.log("shard_01"), timeout=5)
            assert "Retrying in" not in system.log("shard_01")
        else:
            assert "Retrying in" in system.log("shard_01")


def test_signal_consumer_survives_a_redis_restart_that_loses_everything(tmp_path):
    """Without persistence a restarted Redis has no stream and no group; the consumer makes them again."""
    import redis

    from chaoslib.services.redis import RedisServer

    with (
        RedisServer(tmp_path / "redis") as server,
        System(tmp_path, server.url, "postgresql://unused") as system,
    ):
        consumer = system.start("signals", "signals")
        server.restart()
        with redis.Redis.from_url(server.url) as r:
            r.xadd(
                "signals:stream", {"shard": "shard_09", "seq": 1}
            )  # makes the stream, but not the group
            wait_until(
                lambda: r.get("signals:contiguous:shard_09") == b"1",
                timeout=15,
                what="the consumer to read after the restart",
            )
        assert consumer.is_running()
