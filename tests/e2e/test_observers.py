"""Observers against real servers, and each check proven able to fail on a real failure."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests

from chaoslib.clock import REAL_CLOCK
from chaoslib.experiment import checks
from chaoslib.faults import Link
from chaoslib.observe import (
    History,
    PostgresWorkload,
    PubSubWorkload,
    StreamWorkload,
    channel,
    logs,
    redis_ping,
    tcp,
    webhook_sink,
)
from chaoslib.observe.workloads import WorkloadResult
from chaoslib.services.redis import RedisServer
from chaoslib.wait import wait_until


@pytest.fixture
def private_redis(tmp_path):
    with RedisServer(tmp_path / "r") as server:
        yield server


def ok_after(history: History, source: str, t: float) -> bool:
    return any(e.ok for e in history.select(source=source, since=t))


def test_recovered_within_fails_for_a_service_kept_down(private_redis):
    history = History()
    with redis_ping(private_redis.url, history, name="p", interval=0.05, deadline=1):
        wait_until(lambda: ok_after(history, "p", 0), timeout=5)
        fault_at = REAL_CLOCK.now()
        private_redis.kill()
        healed_at = REAL_CLOCK.now()  # "healed", but nothing brings it back
        wait_until(lambda: len(history.select(source="p", since=healed_at)) >= 10, timeout=5)
    verdict = checks.recovered_within(history, "p", 0.3, healed_at=healed_at, fault_at=fault_at)
    assert verdict.status == "fail"
    assert "never answered" in verdict.evidence
    assert verdict.details["time_to_detect_s"] is not None


def test_recovered_within_passes_when_the_service_comes_back(private_redis):
    history = History()
    with redis_ping(private_redis.url, history, name="p", interval=0.05, deadline=1):
        private_redis.kill()
        private_redis.start()
        healed_at = REAL_CLOCK.now()
        wait_until(lambda: ok_after(history, "p", healed_at), timeout=5)
    assert checks.recovered_within(history, "p", 2, healed_at=healed_at).status == "pass"


def test_pubsub_loses_messages_across_a_redis_restart_and_no_loss_says_so(private_redis):
    workload = PubSubWorkload(private_redis.url, interval=0.01, reconnect_delay=0.5)
    history = workload.history
    workload.start()
    wait_until(lambda: history.select(source="pubsub", kind="received"), timeout=5)
    private_redis.restart()
    restarted = REAL_CLOCK.now()
    wait_until(
        lambda: (
            len([e for e in history.select(source="pubsub", kind="received", since=restarted)]) > 5
        ),
        timeout=10,
        what="messages after the restart",
    )
    workload.drain(timeout=1)
    verdict = checks.no_loss(workload.result())
    assert verdict.status == "fail"
    assert verdict.details["lost"] > 0
    assert verdict.details["duplicated"] == 0


def test_streams_with_acks_lose_nothing_across_a_link_outage(toxiproxy, chaos_stack):
    url = chaos_stack.link_urls()["redis"]["url"]
    workload = StreamWorkload(url, interval=0.01)
    workload.start()
    wait_until(lambda: workload.history.select(source="stream", kind="received"), timeout=5)
    with Link("redis", toxiproxy).down():
        wait_until(
            lambda: any(e.ok is False for e in workload.history.select(source="stream", kind="op")),
            timeout=5,
            what="writes to fail while the link is down",
        )
    since = REAL_CLOCK.now()
    wait_until(
        lambda: any(e.ok for e in workload.history.select(source="stream", kind="op", since=since)),
        timeout=10,
        what="writes to succeed again",
    )
    workload.drain()
    verdict = checks.no_loss(workload.result())
    assert verdict.status == "pass", verdict.evidence
    assert verdict.details["failed"] + verdict.details["unknown"] > 0
    assert verdict.details["acknowledged"] > 1


def test_a_stream_write_whose_answer_is_lost_is_unknown_not_failed(toxiproxy, chaos_stack):
    """The XADD reaches Redis, the reply is cut: Redis applied it, so "failed" would be a lie.

    limit_data 0 on the replies lets every command through to Redis and closes
    the connection on its answer. New connections fail in their handshake,
    before any XADD is sent: those are certain failures.
    """
    url = chaos_stack.link_urls()["redis"]["url"]
    workload = StreamWorkload(url, interval=0.01)
    history = workload.history
    workload.start()
    wait_until(lambda: history.select(source="stream", kind="received"), timeout=5)
    with Link("redis", toxiproxy).limit_data(0, direction="downstream"):
        wait_until(
            lambda: len([e for e in history.select(source="stream", kind="op") if not e.ok]) > 3,
            timeout=5,
            what="writes to fail while every reply is cut",
        )
    since = REAL_CLOCK.now()
    wait_until(
        lambda: any(e.ok for e in history.select(source="stream", kind="op", since=since)),
        timeout=10,
        what="writes to succeed again",
    )
    workload.drain()
    result = workload.result()
    direct = redis.Redis.from_url(chaos_stack.link_urls()["redis"]["upstream"])
    stored = {int(fields[b"seq"]) for _, fields in direct.xrange(workload.stream)}
    direct.close()
    assert result.unknown, "the write in flight when the reply was cut is unknown"
    assert set(result.unknown) <= stored, "each unknown write here was in fact applied"
    assert not set(result.failed) & stored, "a write recorded as failed was applied"
    verdict = checks.no_loss(result)
    assert verdict.status == "pass", verdict.evidence
    assert verdict.details["failed_but_read"] == 0


def test_no_loss_fails_when_a_write_reported_failed_is_read_back():
    result = WorkloadResult(
        "w", acked=(1, 2), failed=(3,), unknown=(), received=(1, 2, 3), failure_times=(0.0,)
    )
    verdict = checks.no_loss(result)
    assert verdict.status == "fail"
    assert verdict.details["failed_but_read"] == 1
    assert "reported failed but read back" in verdict.evidence


def test_postgres_inserts_lose_nothing_across_a_link_outage(toxiproxy, chaos_stack):
    url = chaos_stack.link_urls()["timescaledb"]["url"]
    workload = PostgresWorkload(url, interval=0.01)
    workload.start()
    wait_until(lambda: len(workload.history.select(source="postgres", kind="op")) > 5, timeout=10)
    with Link("timescaledb", toxiproxy).down():
        wait_until(
            lambda: any(
                e.ok is not True for e in workload.history.select(source="postgres", kind="op")
            ),
            timeout=10,
        )
    since = REAL_CLOCK.now()
    wait_until(
        lambda: any(
            e.ok for e in workload.history.select(source="postgres", kind="op", since=since)
        ),
        timeout=15,
    )
    workload.drain()
    verdict = checks.no_loss(workload.result())
    assert verdict.status == "pass", verdict.evidence


def test_log_seen_fails_for_a_line_that_never_appears_and_passes_for_one_that_does(tmp_path):
    path = tmp_path / "service.log"
    path.write_text("old line: Redis disconnected, reconnecting...\n")
    history = History()
    with logs(
        path,
        {"reconnected": r"Successfully connected \(total reconnects: \d+\)"},
        history,
        name="log",
    ):
        with open(path, "a") as fh:
            fh.write("Successfully connected (total reconnects: 3)\n")
        wait_until(lambda: history.select(source="log"), timeout=5)
    assert checks.log_seen(history, "reconnected", 5).status == "pass"
    missing = checks.log_seen(history, r"Circuit breaker OPENED", 5)
    assert missing.status == "fail"
    # the line written before the observer started is not counted
    assert checks.log_seen(history, "Redis disconnected", 5).status == "fail"


def _ms_stamp() -> str:
    """Now as the reference system's loguru format writes it: cut to the millisecond, with zone."""
    moment = datetime.fromtimestamp(int(time.time() * 1000) / 1000, UTC).astimezone()
    return moment.isoformat(timespec="milliseconds")


def test_lines_with_one_stamp_in_two_services_logs_share_one_t_across_polls(tmp_path):
    # The orchestrator's line and the shard's add_game it caused carry the same millisecond;
    # they are read by two observers, in different polls. Each pair must land on one t, so that
    # a window starting at the first line (since=its t) holds the second. Twenty pairs: with a
    # mapping sampled per poll each pair is a coin toss, so this fails all but once in a million.
    orchestrator, shard = tmp_path / "orchestrator.log", tmp_path / "shard.log"
    orchestrator.touch()
    shard.touch()
    history = History()
    pattern = {"line": r"pair \d+"}
    with (
        logs(orchestrator, pattern, history, name="log:orchestrator", interval=0.01),
        logs(shard, pattern, history, name="log:shard", interval=0.01),
    ):
        for i in range(20):
            stamp = _ms_stamp()
            for path, source in ((orchestrator, "log:orchestrator"), (shard, "log:shard")):
                with open(path, "a") as fh:
                    fh.write(f"{stamp} INFO    {source} pair {i}\n")
                wait_until(lambda s=source, n=i + 1: len(history.select(source=s)) == n, timeout=5)
    first = {e.detail.split()[-1]: e for e in history.select(source="log:orchestrator")}
    second = {e.detail.split()[-1]: e for e in history.select(source="log:shard")}
    apart = {n: second[n].t - first[n].t for n in first}
    assert all(d == 0 for d in apart.values()), f"same stamp, different t (s): {apart}"
    for n, line in first.items():
        assert second[n] in history.select(kind="log", since=line.t)


def test_json_lines_are_timed_by_their_ts_field_not_by_when_they_were_read(tmp_path):
    # A Node.js system logs {"ts": "…", …}. The coordinator's line is stamped 1 ms before the
    # worker's, but the worker's file is read first: the stamps, not the reads, give the order.
    coordinator, worker = tmp_path / "dispatch.log", tmp_path / "north.log"
    coordinator.touch()
    worker.touch()
    history = History()
    pattern = {"ev": r'"ev":"\w+"'}
    earlier = datetime.now(UTC) - timedelta(milliseconds=50)
    later = earlier + timedelta(milliseconds=1)

    def line(at: datetime, ev: str) -> str:
        return '{"ts":"%s","lvl":"info","ev":"%s"}\n' % (  # noqa: UP031 (JSON braces)
            at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            ev,
        )

    with logs(worker, pattern, history, name="log:north", interval=0.01):
        worker.write_text(line(later, "take"))
        wait_until(lambda: history.select(source="log:north"), timeout=5)
        with logs(
            coordinator, pattern, history, name="log:dispatch", from_start=True, interval=0.01
        ):
            coordinator.write_text(line(earlier, "lost"))
            wait_until(lambda: history.select(source="log:dispatch"), timeout=5)
    lost = history.select(source="log:dispatch")[0]
    take = history.select(source="log:north")[0]
    assert take.t - lost.t == pytest.approx(0.001, abs=2e-4), (lost.t, take.t)
    assert take in history.select(kind="log", since=lost.t)


def test_channel_observer_resubscribes_after_redis_restarts(private_redis):
    history = History()
    with (
        channel(private_redis.url, "shard:*:heartbeat", history, name="hb"),
        private_redis.client() as pub,
    ):
        wait_until(lambda: history.select(source="hb", kind="subscribed"), timeout=5)
        pub.publish("shard:1:heartbeat", '{"shard_id": "1"}')
        wait_until(lambda: history.select(source="hb", kind="message"), timeout=5)
        private_redis.restart()

        def heard_again() -> bool:
            try:
                with private_redis.client() as again:
                    again.publish("shard:2:heartbeat", '{"shard_id": "2"}')
            except redis.ConnectionError:
                return False
            return any(
                e.value == {"shard_id": "2"} for e in history.select(source="hb", kind="message")
            )

        wait_until(heard_again, timeout=10, interval=0.1, what="the resubscribed channel")
    assert len(history.select(source="hb", kind="subscribed")) >= 2
    assert history.select(source="hb", kind="disconnect")
    first = history.select(source="hb", kind="message")[0]
    assert first.value == {"shard_id": "1"} and first.detail == "shard:1:heartbeat"


def test_webhook_sink_records_each_delivery():
    history = History()
    with webhook_sink(history) as sink:
        payload = {"text": "All 2 game shards are unhealthy", "username": "Arbees Critical Alerts"}
        assert requests.post(sink.url, json=payload, timeout=5).status_code == 200
        requests.post(sink.url + "other", data=b"plain", timeout=5)
    deliveries = history.select(kind="delivery")
    assert [d.value for d in deliveries] == [payload, "plain"]


def test_tcp_probe_reports_a_closed_port_as_failed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    history = History()
    with tcp(("127.0.0.1", port), history, name="t", interval=0.05):
        wait_until(lambda: history.select(source="t"), timeout=5)
    assert all(e.ok is False for e in history.select(source="t"))


def test_draining_twice_reads_the_results_once(postgres_session):
    """``stop`` after ``drain`` (or two drains) must not count every write as duplicated."""
    from chaoslib.experiment.checks import no_loss
    from chaoslib.observe.history import History
    from chaoslib.observe.workloads import PostgresWorkload
    from chaoslib.wait import wait_until

    workload = PostgresWorkload(postgres_session.url, history=History(), interval=0.01)
    workload.start()
    wait_until(lambda: len(workload.result().acked) >= 5, timeout=10, what="five writes")
    workload.drain()
    workload.stop()
    verdict = no_loss(workload.result())
    assert verdict.status == "pass", verdict.evidence
