"""Signals are written once: a resend after a lost reply is no duplicate, and the loss
ledger names a duplicate and a gap when a system does write them (its failing side)."""

from __future__ import annotations

from chaoslib.faults import Link
from chaoslib.wait import wait_until
from tests.arbees_harness import running_system


def test_a_cut_signal_reply_is_resent_without_a_duplicate(tmp_path, chaos_stack, toxiproxy):
    """The proxy forwards a shard's signal, drops its reply and closes the connection: the
    write happened and the shard cannot know. redis-py's retry and the next poll send it
    again; the stream must still hold every seq once, with no gap."""
    import redis

    links = chaos_stack.link_urls()
    urls = links["redis"]["url"], links["timescaledb"]["url"]
    with redis.Redis.from_url(chaos_stack.services["redis"].url) as r:
        last = r.xrevrange("signals:stream", count=1)
        start = "(" + last[0][0].decode() if last else "-"
        with running_system(tmp_path, urls) as system:
            cut = Link("redis", toxiproxy).redis_command(["EVAL"], action="close", count=3)
            with cut:
                name = next(iter(cut.names.values()))
                wait_until(lambda: toxiproxy.get_toxic("redis", name).stats.get("matched", 0) >= 3,
                           timeout=20, what="three signal replies cut")  # fmt: skip
            top = _signals_by_shard(r, start)
            wait_until(lambda: all(len(_signals_by_shard(r, start).get(s, [])) >= len(top[s]) + 2
                                   for s in top), timeout=20, what="signals after the cut")  # fmt: skip
            assert system.procs["shard_01"].is_running()
        for shard, seqs in _signals_by_shard(r, start).items():
            assert seqs == list(range(1, len(seqs) + 1)), (shard, seqs)


def _signals_by_shard(r, start: str) -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for _id, f in r.xrange("signals:stream", min=start):
        found.setdefault((f[b"shard"].decode(), f[b"process"].decode()), []).append(int(f[b"seq"]))
    return found


def test_a_signal_sent_again_after_its_reply_was_lost_is_written_once(redis_session):
    """The shard resends a seq whose reply it never got; the stream must hold it once."""
    import redis

    from chaoslib.examples.arbees.shard import SEND_SIGNAL, SIGNAL_LAST
    from chaoslib.profiles.contract import Beat
    from chaoslib.scenarios.sources import signal_ledger

    stream = "test:resend:stream"
    with redis.Redis.from_url(redis_session.url) as r:
        r.delete(stream, SIGNAL_LAST)

        def send(shard: str, process: str, seq: int) -> int:
            fields = ("shard", shard, "process", process, "seq", seq)
            return r.eval(SEND_SIGNAL, 2, stream, SIGNAL_LAST, f"{shard}:{process}", seq, *fields)

        sends = [("s1", "p1", 1), ("s1", "p1", 2), ("s1", "p1", 2), ("s1", "p1", 1),
                 ("s2", "p1", 1), ("s1", "p2", 1), ("s1", "p1", 3)]  # fmt: skip
        assert [send(*s) for s in sends] == [1, 1, 0, 0, 1, 1, 1]
        written = [(f[b"shard"], f[b"process"], int(f[b"seq"])) for _, f in r.xrange(stream)]
        assert written == [(b"s1", b"p1", 1), (b"s1", b"p1", 2), (b"s2", b"p1", 1),
                           (b"s1", b"p2", 1), (b"s1", b"p1", 3)]  # fmt: skip
    beats = [Beat(1.0, "s1", frozenset(), "p1", metrics={"signals_sent": 3}),
             Beat(1.0, "s2", frozenset(), "p1", metrics={"signals_sent": 1})]  # fmt: skip
    ledger = signal_ledger(redis_session.url, _signals(stream), beats, drain_timeout=0)
    assert (ledger.sent, ledger.lost, ledger.duplicated) == (4, [], [])


def test_the_loss_ledger_names_a_signal_written_twice_and_one_never_written(redis_session):
    """The check's failing side: a plain resend duplicates, a gap is a loss."""
    import redis

    from chaoslib.profiles.contract import Beat
    from chaoslib.scenarios.sources import signal_ledger

    stream = "test:dup:stream"
    with redis.Redis.from_url(redis_session.url) as r:
        r.delete(stream)
        for seq in (1, 2, 2, 4):
            r.xadd(stream, {"shard": "s1", "process": "p1", "seq": seq})
    beats = [Beat(1.0, "s1", frozenset(), "p1", metrics={"signals_sent": 4})]
    ledger = signal_ledger(redis_session.url, _signals(stream), beats, drain_timeout=0)
    assert (ledger.sent, ledger.lost, ledger.duplicated) == (4, ["s1#3"], ["s1#2"])
    assert "1 missing from the stream, 1 written twice" in ledger.evidence()


def _signals(stream: str):
    from chaoslib.profiles.contract import SignalsDef

    return SignalsDef(stream=stream, worker_field="shard", process_field="process",
                      seq_field="seq")  # fmt: skip
