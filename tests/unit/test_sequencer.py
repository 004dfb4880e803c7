"""The reply sequencer as a pure state machine: commands and replies interleaved and cut
anywhere, answers injected in between. Every client sees each reply once, in order.

The replies here are generated from what the toxic forwarded (the sequencer is
sans-I/O); the same guarantee against a real redis-server over TCP is in
``test_protocol_toxics.py``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaoslib.proxy.toxics.redis_command import RedisCommand
from chaoslib.proxy.wire.resp import RespParser, encode_command
from tests.unit.fake_connection import FakeConnection, VirtualLoop


@settings(max_examples=500, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(["SET", "XADD", "GET"]), min_size=1, max_size=40),
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=200),
    order=st.lists(st.booleans(), min_size=1, max_size=200),
    action=st.sampled_from(["error", "close"]),
)
def test_injected_answers_land_in_place_whatever_the_interleaving(kinds, sizes, order, action):
    toxic = RedisCommand(
        "t", "upstream", 1.0,
        RedisCommand.parse_attributes({"commands": ["XADD"], "action": action, "error": "ERR no"}),
    )  # fmt: skip
    wire = FakeConnection(VirtualLoop())
    state = toxic.new_state()
    toxic.on_attach(wire, state)
    sequencer = state.sequencer
    requests = b"".join(encode_command(k, f"k{i}") for i, k in enumerate(kinds))
    # The "server" answers every forwarded command with its index, in order.
    forwarded = RespParser(commands=True)
    replies = bytearray()
    expected = b"".join(
        b"-ERR no\r\n" if k == "XADD" else b"$%d\r\n%d\r\n" % (len(str(i)), i)
        for i, k in enumerate(kinds)
    )
    if action == "close" and "XADD" in kinds:
        # The first XADD goes to the server; its reply is dropped and the connection ends.
        first = kinds.index("XADD")
        expected = b"".join(b"$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(first))
    sent_requests = 0
    sent_replies = 0
    step = 0
    while len(wire.answered) < len(expected) or (action == "close" and "XADD" in kinds):
        if wire.closed:
            break
        size = sizes[step % len(sizes)]
        take_reply = order[step % len(order)] and sent_replies < len(replies)
        step += 1
        if take_reply or sent_requests >= len(requests):
            piece = bytes(replies[sent_replies : sent_replies + size])
            sent_replies += len(piece)
            sequencer.filter(piece, wire.to_client)
            continue
        out, later = toxic.run_inline(requests[sent_requests : sent_requests + size], wire, state)
        assert later is None
        sent_requests += size
        for frame in forwarded.feed(out):
            index = int(frame.args[1][1:])
            replies += b"$%d\r\n%d\r\n" % (len(str(index)), index)
        assert step < 10_000, "stuck"
    assert wire.answered == expected
    assert wire.closed == (action == "close" and "XADD" in kinds)
