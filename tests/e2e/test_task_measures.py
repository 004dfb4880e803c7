"""The fault tasks measure their fault: db-slow's counts and statement latencies,
bandwidth's throughput, and detect/recover times that are measurements, not deadlines."""

from __future__ import annotations

import json
import re

import psycopg
import pytest

from chaoslib.cli import measure
from chaoslib.cli.measure_fault import matches, statement_for
from chaoslib.services import stack as stack_mod
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until
from tests.helpers import run_invoke, spawn_python


@pytest.fixture(scope="module")
def home(stack_home):
    return stack_home


def proxies(home):
    return Toxiproxy(stack_mod.Stack.load(home).proxy_url).proxies()


def untouched(home) -> bool:
    return all(p.enabled and not p.toxics for p in proxies(home).values())


def task(home, tmp_path, *args: str):
    result = run_invoke(home, *args, "--report-dir", str(tmp_path), timeout=120)
    journal = tmp_path / "journal.json"
    data = json.loads(journal.read_text()) if journal.exists() else {}
    return result, data


def check(data, prefix: str) -> dict:
    found = [c for c in data["checks"] if c["name"].startswith(prefix)]
    assert len(found) == 1, [c["name"] for c in data["checks"]]
    return found[0]


def test_db_slow_with_a_pattern_prints_the_counts_and_both_statements_latencies(home, tmp_path):
    stack = stack_mod.Stack.load(home)
    url = stack.link_urls()["timescaledb"]["url"]
    proc = spawn_python(home, "-m", "invoke", "chaos.db-slow", "--pattern", "chaos_marker",
                        "--latency", "700", "--duration", "5", "--report-dir", str(tmp_path))  # fmt: skip
    try:
        wait_until(lambda: proxies(home)["timescaledb"].toxics, timeout=30, what="the toxic")
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:  # a client's
            for _ in range(2):
                conn.execute("SELECT 'chaos_marker'").fetchall()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    text = " ".join(out.split())
    # The client's two statements; the task's own matching probe is counted apart.
    assert re.search(r"touched its links: matched 2, passed [1-9]\d* \(not counting the "
                     r"task's 3 own matching probe statements\)", text), text  # fmt: skip
    data = json.loads((tmp_path / "journal.json").read_text())
    matching = check(data, "matching statement (the task's own) 'SELECT 1 /* chaos_marker */'")
    other = check(data, "non-matching statement (the probe's 'SELECT 1')")
    assert matching["measured"] == pytest.approx(0.7, abs=0.25), matching
    assert other["measured"] < 0.2, other
    assert "Matching statement (the task's own): " in text and "Injected: 700 ms" in text
    assert untouched(home)


def test_a_pattern_the_task_can_match_itself_still_fails_when_no_client_matched(home, tmp_path):
    result, data = task(home, tmp_path, "chaos.db-slow", "--pattern", "chaos_marker",
                        "--latency", "100", "--duration", "2")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert '❌ the fault touched nothing: 0 statements matched "chaos_marker"' in result.stdout
    assert check(data, "the fault touched")["status"] == "fail"
    assert data["status"] == "failed" and untouched(home)


def test_bandwidth_measures_the_throughput_within_30_percent_of_the_rate(home, tmp_path):
    result, data = task(home, tmp_path, "chaos.bandwidth", "--link", "redis", "--rate", "50",
                        "--duration", "3")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    measured = check(data, "throughput at most 50 KB/s")["measured"]
    assert measured == pytest.approx(50, rel=0.3)
    assert re.search(r"Throughput through the link while it held: [\d.]+ KB/s \(limit 50 KB/s",
                     result.stdout)  # fmt: skip
    assert untouched(home)
    assert not any(k.startswith(b"chaoslib:probe") for k in _redis_keys(home))  # deleted after


def _redis_keys(home) -> list[bytes]:
    import redis

    server = stack_mod.Stack.load(home).services["redis"]
    client = redis.Redis(*server.address)
    try:
        return client.keys("*")
    finally:
        client.close()


def test_time_to_detect_is_measured_not_the_probe_deadline(home, tmp_path):
    detected = {}
    for latency in ("300", "2000"):
        result, data = task(home, tmp_path / latency, "chaos.db-slow", "--latency", latency,
                            "--duration", "3")  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        details = check(data, "timescaledb recovered")["details"]
        detected[latency] = details["time_to_detect_s"]
        assert f"time to detect: {detected[latency]:g}s (from the apply to a probe slower than" in (
            " ".join(result.stdout.split())
        )
    # Before: "detected 2.0s" at both, the old probe's deadline.
    assert 0.1 < detected["300"] < 1.2, detected
    assert detected["2000"] - detected["300"] > 1.0, detected
    assert untouched(home)


def test_a_target_that_stops_answering_during_the_hold_fails_to_recover(home, tmp_path):
    redis_server = stack_mod.Stack.load(home).services["redis"]
    proc = spawn_python(home, "-m", "invoke", "chaos.redis-down", "--duration", "2",
                        "--recover-within", "1", "--report-dir", str(tmp_path))  # fmt: skip
    try:
        wait_until(lambda: not proxies(home)["redis"].enabled, timeout=30, what="redis down")
        redis_server.pause()
        out, err = proc.communicate(timeout=60)
    finally:
        redis_server.resume()
        proc.kill()
    assert proc.returncode == 1, out + err
    assert "❌ redis recovered within 1s: never answered after the heal" in out
    assert untouched(home)


# -- the rules, on samples: a blocked probe is slow for as long as it was blocked ----------
def _s(start: float, end: float, ok: bool = True) -> measure.Sample:
    return measure.Sample(start, end, ok)


def test_a_probe_blocked_across_the_heal_is_slow_not_a_recovery():
    # The case: Redis paused, a PING blocked 0.956 s, answered 0.001 s after the heal.
    steady = [_s(0.0, 0.002), _s(0.1, 0.101)]
    blocked = _s(9.045, 10.001)  # began before the heal at 10.0, answered just after it
    after = [_s(10.101, 10.102), _s(10.2, 10.201)]
    threshold = measure.slow_threshold(measure.baseline(steady), 0)
    t = measure.timing([*steady, blocked, *after], applied_at=9.0, healed_at=10.0,
                       threshold=threshold)  # fmt: skip
    assert t.recovered_at == pytest.approx(0.102)  # not 0.001: that answer was 0.956 s late
    assert t.detected_at == pytest.approx(0.045 + threshold)  # when it passed the threshold
    assert "in flight at the heal was slow after 956 ms" in t.recovered_by


def test_a_refused_probe_is_detected_at_its_end_and_a_good_answer_in_flight_recovers():
    samples = [_s(0.0, 0.001), _s(1.05, 1.06, ok=False), _s(1.99, 2.005)]
    t = measure.timing(samples, applied_at=1.0, healed_at=2.0, threshold=0.101)
    assert t.detected_at == pytest.approx(0.06)
    assert t.recovered_at == pytest.approx(0.005)


def test_statements_the_task_builds_are_read_only_and_match_as_the_toxic_does():
    assert statement_for("chaos_marker", matching=True) == "SELECT 1 /* chaos_marker */"
    assert statement_for("^select 1", matching=False) == "SELECT 2"
    assert statement_for("^insert into orders", matching=True) is None  # never a write
    # Text that would end a comment goes in a string literal instead.
    quoted = statement_for(r"end\*/ here", matching=True)
    assert quoted == "SELECT 'end*/ here'" and matches(r"end\*/ here", quoted)
    assert statement_for("it's", matching=True) == "SELECT 1 /* it's */"
    # Neither a comment nor a string can hold it as it is: no statement, never a guess.
    assert statement_for(r"it's \*/", matching=True) is None
