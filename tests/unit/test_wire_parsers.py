"""The RESP and PostgreSQL frontend parsers: byte tables, and generated streams cut at every
boundary. Every byte comes out exactly once, in order, whatever the chunking."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from chaoslib.proxy.wire import pg, resp

# -- RESP --------------------------------------------------------------------------------

RESP_TABLE = [
    (b"*1\r\n$4\r\nPING\r\n", [(b"PING",)]),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", [(b"SET", b"k", b"")]),
    (b"PING\r\n", [(b"PING",)]),  # inline
    (b"SET a b\n*1\r\n$4\r\nPING\r\n", [(b"SET", b"a", b"b"), (b"PING",)]),  # pipelined
    (b"*2\r\n$7\r\nPUBLISH\r\n$4\r\na\r\nb\r\n", [(b"PUBLISH", b"a\r\nb")]),  # CRLF inside a blob
]


def test_commands_from_a_byte_table():
    for data, expected in RESP_TABLE:
        frames = resp.RespParser(commands=True).feed(data)
        assert [f.args for f in frames] == expected, data
        assert b"".join(f.raw for f in frames) == data


REPLIES = [
    b"+OK\r\n",
    b"-LOADING Redis is loading\r\n",
    b":42\r\n",
    b"$-1\r\n",
    b"$5\r\nhello\r\n",
    b"*-1\r\n",
    b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
    b"%1\r\n+k\r\n:2\r\n",  # RESP3 map
    b"_\r\n",
    b",3.14\r\n",
    b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n",  # push
]


def test_each_reply_type_is_one_frame_even_when_pipelined():
    data = b"".join(REPLIES)
    frames = resp.RespParser(commands=False).feed(data)
    assert [f.raw for f in frames] == REPLIES


def test_garbage_turns_into_pass_through_not_an_exception():
    parser = resp.RespParser(commands=False)
    frames = parser.feed(b"+OK\r\n?what\r\n")
    assert frames[0].raw == b"+OK\r\n" and frames[1].opaque and frames[1].raw == b"?what\r\n"
    assert parser.feed(b"more")[0].raw == b"more"


words = st.lists(st.binary(min_size=0, max_size=12), min_size=1, max_size=5)


def _cuts(data: bytes, sizes: list[int]) -> list[bytes]:
    out, pos = [], 0
    for size in sizes:
        out.append(data[pos : pos + size])
        pos += size
    return [*out, data[pos:]]


@settings(max_examples=300, deadline=None)
@given(st.lists(words, min_size=1, max_size=6), st.lists(st.integers(0, 9), max_size=60))
def test_generated_command_streams_cut_anywhere(commands, sizes):
    data = b"".join(resp.encode_command(*c) for c in commands)
    parser = resp.RespParser(commands=True)
    frames = [f for chunk in _cuts(data, sizes) for f in parser.feed(chunk)]
    assert [list(f.args or ()) for f in frames] == commands
    assert b"".join(f.raw for f in frames) == data and parser.pending == 0


def test_a_stream_cut_at_every_single_boundary():
    data = b"".join(resp.encode_command(*c) for c in [(b"GET", b"k"), (b"XADD", b"s", b"*")])
    for cut in range(len(data) + 1):
        parser = resp.RespParser(commands=True)
        frames = parser.feed(data[:cut]) + parser.feed(data[cut:])
        assert [f.command for f in frames] == ["GET", "XADD"], cut


# -- PostgreSQL --------------------------------------------------------------------------


def startup(user: str = "chaos") -> bytes:
    body = struct.pack("!i", pg.PROTOCOL_3) + b"user\0" + user.encode() + b"\0\0"
    return struct.pack("!i", len(body) + 4) + body


SSL = struct.pack("!ii", 8, pg.SSL_REQUEST)


def parse_msg(name: str, sql: str) -> bytes:
    return pg.message("P", name.encode() + b"\0" + sql.encode() + b"\0" + b"\0\0")


def test_startup_then_simple_and_extended_queries():
    data = (
        startup()
        + pg.message("Q", b"SELECT 1\0")
        + parse_msg("s1", "INSERT INTO game_states VALUES ($1)")
        + pg.message("B", b"\0s1\0\0\0\0\0\0\0")
        + pg.message("E", b"\0\0\0\0\0")
        + pg.message("S", b"")
    )
    frames = pg.FrontendParser().feed(data)
    assert [f.kind for f in frames] == ["startup", "Q", "P", "B", "E", "S"]
    assert frames[1].sql == "SELECT 1" and frames[2].sql.startswith("INSERT INTO game_states")
    assert frames[2].statement == "s1"
    assert b"".join(f.raw for f in frames) == data


def test_tls_refused_path_then_startup_in_the_clear():
    parser = pg.FrontendParser()
    first = parser.feed(SSL + startup())
    assert [f.kind for f in first] == ["ssl"]  # held until the server answers
    parser.server_answered_ssl(b"N")
    rest = parser.feed(pg.message("Q", b"SELECT 1\0"))
    assert [f.kind for f in rest] == ["startup", "Q"]


def test_tls_accepted_passes_everything_through():
    parser = pg.FrontendParser()
    parser.feed(SSL)
    parser.server_answered_ssl(b"S")
    frames = parser.feed(b"\x16\x03\x01 tls bytes")
    assert frames == [pg.Frame(b"\x16\x03\x01 tls bytes", "opaque")]


def test_error_response_is_a_real_error_and_ready_for_query():
    data = pg.error_response("57014", "canceling statement due to statement timeout")
    assert data[:1] == b"E" and b"C57014\0" in data and data.endswith(b"Z\x00\x00\x00\x05I")


sql_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(st.lists(sql_text, min_size=1, max_size=6), st.lists(st.integers(0, 13), max_size=60))
def test_generated_query_streams_cut_anywhere(statements, sizes):
    data = startup() + b"".join(pg.message("Q", s.encode() + b"\0") for s in statements)
    parser = pg.FrontendParser()
    frames = [f for chunk in _cuts(data, sizes) for f in parser.feed(chunk)]
    assert [f.sql for f in frames[1:]] == statements
    assert b"".join(f.raw for f in frames) == data


def test_a_frame_that_fails_to_parse_is_passed_through_whole():
    # Found by the fuzzer: the bytes of a frame rejected late were dropped.
    parser = resp.RespParser(commands=True)
    assert b"".join(f.raw for f in parser.feed(b"*1\r\n:1\r\nPING\r\n")) == b"*1\r\n:1\r\nPING\r\n"
    data = startup() + pg.message("Q", b"no terminator") + pg.message("S", b"")
    frames = pg.FrontendParser().feed(data)
    assert b"".join(f.raw for f in frames) == data and frames[-1].kind == "opaque"


def test_a_parser_that_joins_inside_a_command_passes_everything_through():
    parser = resp.RespParser(commands=True)
    parser.unsynced = True
    frames = parser.feed(b"$2\r\nk1\r\n*1\r\n$4\r\nPING\r\n")
    assert parser.passthrough and [f.opaque for f in frames] == [True]
    joined_at_a_command = resp.RespParser(commands=True)
    joined_at_a_command.unsynced = True
    assert joined_at_a_command.feed(b"*1\r\n$4\r\nPING\r\n")[0].command == "PING"
