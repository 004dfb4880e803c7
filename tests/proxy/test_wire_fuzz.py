"""Fuzz the wire parsers: valid frames, garbage and truncation, cut anywhere.

Each parser is driven for ``CHAOS_FUZZ_SECONDS`` (default 5 s per direction, so
10 s per protocol) through hypothesis's ``fuzz_one_input`` with random buffers.
Invariants: no exception ever escapes, and the frames plus the bytes still held
back are exactly the input, in order.
"""

from __future__ import annotations

import os
import random
import struct
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoslib.proxy.wire import pg, resp

SECONDS = float(os.environ.get("CHAOS_FUZZ_SECONDS", "5"))

garbage = st.binary(max_size=24)
resp_commands = st.lists(st.binary(max_size=10), min_size=1, max_size=4).map(
    lambda words: resp.encode_command(*words)
)
inline = st.lists(st.from_regex(rb"[A-Za-z0-9:]{1,8}", fullmatch=True), min_size=1, max_size=3).map(
    lambda words: b" ".join(words) + b"\r\n"
)
replies = st.sampled_from(
    [
        b"+OK\r\n",
        b"-ERR x\r\n",
        b":1\r\n",
        b"$-1\r\n",
        b"$3\r\nabc\r\n",
        b"*2\r\n:1\r\n$0\r\n\r\n",
        b"%1\r\n+k\r\n:2\r\n",
        b">2\r\n+a\r\n+b\r\n",
        b"_\r\n",
        b"*-1\r\n",
        b"$5\r\nab\r\n",
    ]
)


def _pg_message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


pg_frontend = st.one_of(
    st.builds(lambda b: _pg_message(b"Q", b + b"\0"), st.binary(max_size=16)),
    st.builds(
        lambda n, b: _pg_message(b"P", n + b"\0" + b + b"\0\0\0"),
        st.binary(max_size=4),
        st.binary(max_size=16),
    ),
    st.builds(
        lambda p, s: _pg_message(b"B", p + b"\0" + s + b"\0\0\0\0\0\0\0"),
        st.binary(max_size=4),
        st.binary(max_size=4),
    ),
    st.builds(lambda p: _pg_message(b"E", p + b"\0\0\0\0\0"), st.binary(max_size=4)),
    st.just(_pg_message(b"S", b"")),
    st.just(struct.pack("!ii", 8, pg.SSL_REQUEST)),
    st.builds(lambda n: struct.pack("!ii", 8 + n, pg.PROTOCOL_3) + b"\0" * n, st.integers(0, 8)),
    st.builds(
        lambda k, b: k + struct.pack("!i", len(b) + 4) + b,
        st.binary(min_size=1, max_size=1),
        st.binary(max_size=12),
    ),
)
pg_backend = st.one_of(
    st.builds(
        lambda k, b: k + struct.pack("!i", len(b) + 4) + b,
        st.binary(min_size=1, max_size=1),
        st.binary(max_size=12),
    ),
    st.just(_pg_message(b"Z", b"I")),
)


def _stream(parts: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[bytes, list[int]]]:
    chunks = st.lists(st.one_of(parts, garbage), max_size=12).map(b"".join)
    return st.tuples(chunks, st.lists(st.integers(0, 40), max_size=20))


def _feed_all(parser, data: bytes, cuts: list[int], between=None) -> list:
    frames, pos = [], 0
    for size in [*cuts, len(data)]:
        frames += parser.feed(data[pos : pos + size])
        pos += size
        if between:
            between(parser)
    return frames


def _check(parser, data: bytes, cuts: list[int], between=None, skimmer=None, unit=None) -> None:
    frames = _feed_all(parser, data, cuts, between)
    pending = parser.pending
    assert b"".join(f.raw for f in frames) + parser.take_pending() == data
    if skimmer is None or parser.passthrough:
        return
    # Counting without frames (hiredis or the Python walk) agrees with parsing.
    counted, pos = 0, 0
    for size in [*cuts, len(data)]:
        counted += skimmer.skim(data[pos : pos + size])
        pos += size
    assert counted == sum(1 for f in frames if unit(f)) and skimmer.pending == pending


def _answer_ssl(parser: pg.FrontendParser) -> None:
    if parser.awaiting_ssl_answer:
        parser.server_answered_ssl(b"N")


def _backend_answer(parser: pg.BackendParser) -> None:
    parser.answer_due = random.random() < 0.1


fuzz = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


@fuzz
@given(_stream(st.one_of(resp_commands, inline)))
def resp_commands_target(case):
    _check(
        resp.RespParser(commands=True), *case,
        skimmer=resp.RespParser(commands=True), unit=lambda f: True,
    )  # fmt: skip


@fuzz
@given(_stream(replies))
def resp_replies_target(case):
    _check(
        resp.RespParser(commands=False), *case,
        skimmer=resp.RespParser(commands=False), unit=lambda f: f.raw[:1] != b">",
    )  # fmt: skip


@fuzz
@given(_stream(pg_frontend))
def pg_frontend_target(case):
    _check(pg.FrontendParser(), *case, between=_answer_ssl)


@fuzz
@given(_stream(pg_backend))
def pg_backend_target(case):
    _check(pg.BackendParser(), *case, between=_backend_answer)
    _check(pg.BackendParser(), *case, skimmer=pg.BackendParser(), unit=lambda f: f.kind == "Z")


def _fuzz(target) -> int:
    rng = random.Random(1)
    deadline = time.monotonic() + SECONDS
    runs = 0
    while time.monotonic() < deadline:
        target.hypothesis.fuzz_one_input(rng.randbytes(rng.randrange(16, 2048)))
        runs += 1
    print(f"{target.__name__}: {runs} inputs in {SECONDS:.0f} s")
    return runs


def test_fuzz_resp_commands():
    assert _fuzz(resp_commands_target) > 100


def test_fuzz_resp_replies():
    assert _fuzz(resp_replies_target) > 100


def test_fuzz_pg_frontend():
    assert _fuzz(pg_frontend_target) > 100


def test_fuzz_pg_backend():
    assert _fuzz(pg_backend_target) > 100
