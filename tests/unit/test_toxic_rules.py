"""Each byte toxic's rule, on a virtual clock: what leaves, exactly when, and how it closes.

No sockets and no real sleeps (see ``fake_connection``), so the times asserted are the
rule's own, not the machine's; ``tests/proxy/test_toxics.py`` checks the same toxics end to end.
Where Toxiproxy has a test of the same rule (``toxics/*_test.go``), the test names it.
"""

from __future__ import annotations

import random

import pytest

from chaoslib.proxy.toxics import Chunk
from chaoslib.proxy.wire.resp import encode_command
from tests.unit.fake_connection import FakeConnection, Remove, Update, drive, make


def out(conn: FakeConnection) -> list[tuple[bytes, float]]:
    """What left, and when, rounded off float noise (times are sums of ms in seconds)."""
    return [(piece.data, round(piece.at, 9)) for piece in conn.written]


# -- latency -------------------------------------------------------------------------
def test_latency_delays_a_chunk_by_its_latency():  # TestUpstreamLatency, TestDownstreamLatency
    conn = drive([make("latency", latency=100)], [Chunk(b"hello", 1.0)])
    assert out(conn) == [(b"hello", 1.1)] and not conn.closed


def test_zero_latency_forwards_at_once():  # TestZeroLatency
    conn = drive([make("latency", latency=0)], [Chunk(b"a", 0.5), Chunk(b"b", 0.7)])
    assert out(conn) == [(b"a", 0.5), (b"b", 0.7)]


def test_latency_counts_from_the_read_so_queued_chunks_are_not_delayed_twice():
    # TestLatencyToxicBandwidth: a latency toxic must not become a throughput cap.
    chunks = [Chunk(bytes([i]), i / 1000) for i in range(50)]
    conn = drive([make("latency", latency=100)], chunks)
    assert out(conn) == [(bytes([i]), round(0.1 + i / 1000, 9)) for i in range(50)]


def test_jitter_draws_each_delay_from_latency_plus_or_minus_jitter():  # (no Go test sets jitter)
    chunks = [Chunk(b"x", float(i)) for i in range(200)]  # 1 s apart: no chunk waits on another
    conn = drive([make("latency", latency=100, jitter=20)], chunks, seed=7)
    delays = [round(piece.at - i, 9) for i, piece in enumerate(conn.written)]
    rng = random.Random(7)
    assert delays == [(100 + rng.randrange(-20, 20)) / 1000 for _ in range(200)]
    assert min(delays) >= 0.08 and max(delays) < 0.12 and len(set(delays)) > 20


def test_jitter_never_reorders_chunks():
    chunks = [Chunk(bytes([i]), i / 1000) for i in range(100)]
    conn = drive([make("latency", latency=50, jitter=40)], chunks)
    assert conn.data == bytes(range(100))
    assert all(p.at >= i / 1000 + 0.01 for i, p in enumerate(conn.written))


@pytest.mark.parametrize(
    ("change", "b_at"), [(Remove, 0.5), (lambda t, at: Update(t, at, {"latency": 10}), 0.51)]
)
def test_changing_latency_forwards_the_sleeping_chunk_at_once(change, b_at):
    latency = make("latency", latency=1000)
    chunks = [Chunk(b"a", 0.0), Chunk(b"b", 0.5)]
    conn = drive([latency], chunks, events=[change(latency, 0.3)])
    assert out(conn) == [(b"a", 0.3), (b"b", b_at)]  # nothing dropped; then the new rule


def test_the_close_waits_behind_the_delayed_data():
    conn = drive([make("latency", latency=100)], [Chunk(b"a", 0.0)], eof_at=0.0)
    assert out(conn) == [(b"a", 0.1)] and conn.closed_at == pytest.approx(0.1)
    assert not conn.reset


# -- bandwidth -----------------------------------------------------------------------
def test_bandwidth_paces_a_chunk_in_tenth_of_a_second_slices():  # TestBandwidthToxic
    payload = b"hello world " * 40_000  # 480 KB at 1000 KB/s: 480 ms
    conn = drive([make("bandwidth", rate=1000)], [Chunk(payload, 0.0)])
    assert conn.data == payload
    assert [(len(d), t) for d, t in out(conn)] == [
        (100_000, 0.1), (100_000, 0.2), (100_000, 0.3), (100_000, 0.4), (80_000, 0.48)
    ]  # fmt: skip


def test_bandwidth_holds_its_rate_across_queued_chunks():
    chunks = [Chunk(b"x" * 10_000, 0.0) for _ in range(5)]
    conn = drive([make("bandwidth", rate=100)], chunks)
    assert conn.times == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_updating_bandwidth_applies_the_new_rate_to_the_rest_of_the_chunk():
    bandwidth = make("bandwidth", rate=100)
    events = [Update(bandwidth, 0.15, {"rate": 1000})]
    conn = drive([bandwidth], [Chunk(b"x" * 30_000, 0.0)], events=events)
    # Slice 2 (due at 0.2) goes at the update; the last 10 KB take 10 ms at 1000 KB/s.
    assert [(len(d), t) for d, t in out(conn)] == [(10_000, 0.1), (10_000, 0.15), (10_000, 0.16)]


def test_bandwidth_zero_stalls_without_closing_until_the_toxic_changes():
    bandwidth = make("bandwidth", rate=0)
    held = drive([bandwidth], [Chunk(b"stuck", 0.0)], horizon=7200.0)
    assert held.written == [] and not held.closed and held.ended_at == 7200.0
    freed = drive([bandwidth], [Chunk(b"stuck", 0.0)], events=[Update(bandwidth, 10.0, {})])
    assert out(freed) == [(b"stuck", 10.0)] and not freed.closed


def test_removing_bandwidth_forwards_the_rest_of_the_chunk_at_once():
    bandwidth = make("bandwidth", rate=10)  # 100 KB at 10 KB/s: 10 s
    conn = drive([bandwidth], [Chunk(b"x" * 100_000, 0.0)], events=[Remove(bandwidth, 1.0)])
    assert len(conn.data) == 100_000 and conn.written[-1].at == pytest.approx(1.0)


def test_a_small_message_on_an_idle_connection_takes_its_size_over_the_rate():
    conn = drive([make("bandwidth", rate=1)], [Chunk(b"x" * 50, 1.0)])
    assert conn.times == [pytest.approx(1.05)]


# -- slicer --------------------------------------------------------------------------
def test_slicer_without_variation_cuts_exact_sizes_delay_apart():  # TestSlicerToxicZeroSizeVariation
    data = b"hello world " * 2
    conn = drive([make("slicer", average_size=1, delay=10)], [Chunk(data, 0.0)])
    assert [p.data for p in conn.written] == [bytes([b]) for b in data]
    assert conn.times == pytest.approx([i * 10e-6 for i in range(24)])


def test_slicer_sizes_vary_within_average_plus_or_minus_variation():  # TestSlicerToxic
    data = b"hello world " * 40_000
    toxic = make("slicer", average_size=1024, size_variation=512, delay=10)
    conn = drive([toxic], [Chunk(data, 0.0)], seed=3)
    sizes = [len(p.data) for p in conn.written]
    rng = random.Random(3)
    assert sizes[:-1] == [1024 + rng.randint(-512, 512) for _ in sizes[:-1]]
    assert conn.data == data and 480 // 2 <= len(sizes) <= 480 // 2 + 480
    assert all(512 <= s <= 1536 for s in sizes[:-1]) and len(set(sizes)) > 50


def test_slicer_variation_equal_to_the_average_never_makes_an_empty_piece():
    toxic = make("slicer", average_size=2, size_variation=2, delay=1000)
    conn = drive([toxic], [Chunk(b"x" * 2000, 0.0)])
    assert conn.data == b"x" * 2000 and all(1 <= len(p.data) <= 4 for p in conn.written)
    # An empty piece would not reach the wire, but its delay would: every gap is one delay.
    assert conn.times == pytest.approx([i / 1000 for i in range(len(conn.written))])


def test_slicer_delays_between_the_pieces_of_a_chunk_not_after_its_last():
    # Toxiproxy's slicer also sleeps after a chunk's last piece; this one does not.
    toxic = make("slicer", average_size=1, delay=100_000)
    conn = drive([toxic], [Chunk(b"ab", 0.0), Chunk(b"cd", 0.0)])
    assert out(conn) == [(b"a", 0.0), (b"b", 0.1), (b"c", 0.1), (b"d", 0.2)]


def test_updating_slicer_forwards_the_rest_of_the_chunk_at_once():
    slicer = make("slicer", average_size=1, delay=100_000)  # 0.1 s between pieces
    events = [Update(slicer, 0.15, {"delay": 0})]
    conn = drive([slicer], [Chunk(b"abcdef", 0.0)], events=events)
    assert out(conn) == [(b"a", 0.0), (b"b", 0.1), (b"cdef", 0.15)]


# -- limit_data ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sizes", "limit", "expected", "closes"),
    [
        ([50], 100, [50], False),  # TestLimitDataToxicChunkSmallerThanLimit
        ([100], 100, [100], True),  # TestLimitDataToxicChunkLengthMatchesLimit
        ([150], 100, [100], True),  # TestLimitDataToxicChunkBiggerThanLimit
        ([25, 25, 25, 25], 100, [25, 25, 25, 25], True),  # ...MultipleChunksMatchThanLimit
        ([90, 20], 100, [90, 10], True),  # TestLimitDataToxicSecondChunkWouldOverflowLimit
        ([100], 0, [], True),  # TestLimitDataToxicLimitIsSetToZero
    ],
)
def test_limit_data_forwards_up_to_its_bytes_then_closes(sizes, limit, expected, closes):
    chunks = [Chunk(bytes([i]) * n, i / 10) for i, n in enumerate(sizes)]
    late = [Chunk(b"late", 5.0)] if closes else []  # after the close: never forwarded
    conn = drive([make("limit_data", bytes=limit)], chunks + late)
    assert [len(p.data) for p in conn.written] == expected
    assert conn.data == b"".join(c.data for c in chunks)[:limit]
    assert conn.closed == closes and not conn.reset
    if closes:  # at the chunk that reached the limit, with a FIN
        assert conn.closed_at == pytest.approx((len(sizes) - 1) / 10)


def test_limit_data_count_survives_an_update():  # TestLimitDataToxicMayBeRestarted
    limit = make("limit_data", bytes=100)
    chunks = [Chunk(b"a" * 90, 0.0), Chunk(b"b" * 20, 2.0)]
    conn = drive([limit], chunks, events=[Update(limit, 1.0, {"bytes": 95})])
    assert conn.data == b"a" * 90 + b"b" * 5 and conn.closed_at == 2.0


# -- timeout -------------------------------------------------------------------------
def test_timeout_zero_drops_data_and_holds_until_removed():
    # TestTimeoutToxicClosesConnectionOnRemove
    timeout = make("timeout", timeout=0)
    held = drive([timeout], [Chunk(b"gone", 0.0)])
    assert held.written == [] and not held.closed and held.quiet  # nothing would ever happen
    removed = drive([timeout], [Chunk(b"gone", 0.0)], events=[Remove(timeout, 10.0)])
    assert removed.written == [] and removed.closed_at == 10.0 and not removed.reset


@pytest.mark.parametrize(("reads", "closed_at"), [([0.5, 3.0], 13.0), ([], 10.0)])
def test_timeout_closes_its_time_after_the_last_chunk_or_the_open(reads, closed_at):
    chunks = [Chunk(b"dropped", at) for at in reads]
    conn = drive([make("timeout", timeout=10_000)], chunks)
    assert conn.written == [] and conn.closed_at == pytest.approx(closed_at) and not conn.reset


def test_removing_latency_ahead_of_a_timeout_does_not_hang():  # TestTimeoutToxicDoesNotCauseHang
    latency = make("latency", stream="upstream", latency=10)
    timeout = make("timeout", stream="upstream", timeout=0)
    chunks = [Chunk(b"hello", i * 0.2) for i in range(5)]
    conn = drive([latency, timeout], chunks, events=[Remove(latency, 0.85)])
    assert conn.written == [] and not conn.closed and conn.quiet


def test_updating_timeout_to_zero_keeps_the_connection_open():
    timeout = make("timeout", timeout=1000)
    conn = drive([timeout], [], events=[Update(timeout, 0.5, {"timeout": 0})])
    assert not conn.closed


# -- reset_peer, slow_close, limit_time, noop, connect_delay -------------------------------
@pytest.mark.parametrize("wait", [0, 100])  # TestResetToxicNoTimeout, TestResetToxicWithTimeout
def test_reset_peer_resets_its_timeout_after_the_first_chunk(wait):
    chunks = [Chunk(b"first", 1.0), Chunk(b"second", 1.05)]
    conn = drive([make("reset_peer", timeout=wait)], chunks)
    assert conn.written == [] and conn.reset and conn.closed_at == pytest.approx(1.0 + wait / 1000)


def test_reset_peer_resets_at_the_end_of_a_stream_that_sent_nothing():
    conn = drive([make("reset_peer", timeout=100)], [], eof_at=2.0)
    assert conn.reset and conn.closed_at == pytest.approx(2.1)


def test_removing_reset_peer_mid_wait_still_resets_when_the_wait_ends():
    reset = make("reset_peer", timeout=100)
    conn = drive([reset], [Chunk(b"a", 0.0)], events=[Remove(reset, 0.05)])
    assert conn.reset and conn.closed_at == pytest.approx(0.1)


def test_slow_close_passes_data_and_holds_the_close_for_its_delay():
    conn = drive([make("slow_close", delay=1000)], [Chunk(b"a", 0.0), Chunk(b"b", 0.5)], eof_at=1.0)
    assert out(conn) == [(b"a", 0.0), (b"b", 0.5)]
    assert conn.closed_at == pytest.approx(2.0) and not conn.reset


def test_removing_slow_close_closes_at_once():
    slow = make("slow_close", delay=10_000)
    conn = drive([slow], [], eof_at=1.0, events=[Remove(slow, 1.5)])
    assert conn.closed_at == 1.5


@pytest.mark.parametrize("reset", [0, 1])
def test_limit_time_cuts_the_connection_its_time_after_it_opened(reset):
    chunks = [Chunk(b"a", 0.0), Chunk(b"b", 0.9), Chunk(b"c", 1.1)]
    conn = drive([make("limit_time", time=1000, reset=reset)], chunks)
    assert out(conn) == [(b"a", 0.0), (b"b", 0.9)]
    assert conn.closed_at == pytest.approx(1.0) and conn.reset == bool(reset)


def test_removing_limit_time_before_its_time_leaves_the_connection_alone():
    limit = make("limit_time", time=1000)
    conn = drive([limit], [Chunk(b"a", 2.0)], events=[Remove(limit, 0.5)])
    assert out(conn) == [(b"a", 2.0)] and not conn.closed and conn.quiet


def test_noop_passes_everything_unchanged_and_closes_on_eof():
    chunks = [Chunk(b"a", 0.0), Chunk(b"bc", 0.25)]
    conn = drive([make("noop")], chunks, eof_at=0.5)
    assert out(conn) == [(b"a", 0.0), (b"bc", 0.25)]
    assert conn.closed_at == 0.5 and not conn.reset


def test_connect_delay_holds_the_upstream_and_early_data_for_its_delay():
    toxic = make("connect_delay", stream="upstream", delay=500)
    conn = drive([toxic], [Chunk(b"early", 0.1), Chunk(b"late", 0.7)])
    assert conn.connected_at == 0.5 and out(conn) == [(b"early", 0.5), (b"late", 0.7)]


def test_connect_delay_jitter_and_removal():
    toxic = make("connect_delay", stream="upstream", delay=500, jitter=100)
    delays = {drive([toxic], [], seed=s).connected_at for s in range(30)}
    assert all(0.4 <= d < 0.6 for d in delays) and len(delays) > 5
    assert drive([toxic], [], events=[Remove(toxic, 0.2)]).connected_at == 0.2


def test_the_fake_runs_an_inline_protocol_toxic_on_the_fast_path():
    """Not a byte toxic: checks the fake's run_inline path (SET passes inline, XADD waits)."""
    toxic = make("redis_command", stream="upstream", commands=["XADD"], delay_ms=100)
    cmds = [encode_command(*args) for args in (("SET", "k", "v"), ("XADD", "s", "*"), ("GET", "k"))]
    chunks = [Chunk(cmd, at) for cmd, at in zip(cmds, (0.0, 0.01, 0.02), strict=True)]
    conn = drive([toxic], chunks + [Chunk(cmds[0], 0.5)])
    assert out(conn) == [(cmds[0], 0.0), (cmds[1], 0.11), (cmds[2], 0.11), (cmds[0], 0.5)]


# -- composition ---------------------------------------------------------------------
def test_two_latency_toxics_add_up():  # TestTwoLatencyToxics
    toxics = [make("latency", latency=500), make("latency", latency=500)]
    conn = drive(toxics, [Chunk(b"a", 0.0), Chunk(b"b", 0.01)])
    assert out(conn) == [(b"a", 1.0), (b"b", 1.01)]


def test_latency_behind_bandwidth_counts_from_the_read_not_from_the_slice():
    toxics = [make("bandwidth", rate=100), make("latency", latency=50)]
    conn = drive(toxics, [Chunk(b"x" * 20_000, 0.0)])
    assert conn.times == pytest.approx([0.1, 0.2])  # the slower rule wins, they do not add


def test_bandwidth_behind_latency_starts_its_pacing_when_the_data_arrives():
    toxics = [make("latency", latency=100), make("bandwidth", rate=100)]
    conn = drive(toxics, [Chunk(b"x" * 20_000, 0.0)])
    assert conn.times == pytest.approx([0.2, 0.3])
