"""The reply side of a protocol toxic: made-up answers land in their place among the replies.

For every statement it forwards, the toxic counts one server reply to let
through (a Redis reply, a PostgreSQL ReadyForQuery); a statement it answers,
fails or cuts becomes a *special* slot after those replies. The sequencer sees
every byte written to the client. While no special slot waits, it only counts
reply ends (``skim``: no frames are built) and forwards the bytes as they
came; with one waiting it parses whole frames and acts when the slot's turn
comes. So a pipelined error reply lands exactly where the server's would.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from chaoslib.proxy.toxics.base import ConnectionContext
from chaoslib.proxy.wire.base import FrameParser


class Slot(Enum):
    ANSWER = "answer"  # the proxy answers in place of the server (payload: bytes factory)
    FAIL = "fail"  # the server's reply passes, with an error put in before its end
    CUT_NOW = "cut_now"  # close the connection once everything before has gone out
    CUT_AFTER = "cut_after"  # drop the next server reply, then close
    ASK = "ask"  # the proxy's own question to the server: its reply goes to ``done``


OWN_TURN = (Slot.ANSWER, Slot.CUT_NOW)  # slots that take no server reply


@dataclass
class Pending:
    slot: Slot
    payload: Callable[[], bytes] | None = None
    done: Callable[[list[Any]], None] | None = None
    collected: list[Any] = field(default_factory=list)
    then: int = 0  # server replies to let through after this slot, before the next


class Sequencer:
    """The reply-direction tap of one connection. Protocols override the unit hooks."""

    def __init__(self, conn: ConnectionContext, parser: FrameParser[Any]) -> None:
        self.conn = conn
        self.parser = parser
        self.lead = 0  # server replies to let through before the first special slot
        self.specials: collections.deque[Pending] = collections.deque()
        self.sent = 0  # bytes at the front of the parser's buffer already written
        self.retired = False  # the toxic was removed: leave once the slots are done
        self.closed = False

    # -- protocol hooks ------------------------------------------------------------
    def is_unit_end(self, frame: Any) -> bool:
        """Whether ``frame`` completes one reply (a Redis reply, a ReadyForQuery)."""
        raise NotImplementedError

    def needs_frames(self) -> bool:
        """Whether the next bytes must be parsed whole even with no special slot."""
        return False

    def fail_end(self, raw: bytes) -> bytes:
        """The unit end of a FAIL slot, changed to report the error (PostgreSQL)."""
        return raw

    def seen(self, frame: Any) -> None:
        """Every parsed reply frame passes here."""

    def is_async(self, frame: Any) -> bool:
        """A message the server may send at any time, belonging to no reply (a notice)."""
        return False

    # -- the toxic's side ------------------------------------------------------------
    def expect_reply(self) -> None:
        """A statement was forwarded: let its reply through in turn."""
        self.expect_replies(1)

    def expect_replies(self, count: int) -> None:
        if self.specials:
            self.specials[-1].then += count
        else:
            self.lead += count

    def expect(self, pending: Pending) -> None:
        self.specials.append(pending)
        if self.lead == 0 and len(self.specials) == 1 and pending.slot in OWN_TURN:
            out: list[bytes] = []
            self._release(out)
            if out:
                self.conn.reply(self, b"".join(out))

    # -- the reply side --------------------------------------------------------------
    def filter(self, data: bytes, emit: Callable[[bytes], None]) -> None:
        if not self.specials and not self.needs_frames():
            self._skim(data, emit)
        else:
            self._frames(data, emit)
        if self.retired and not self.specials and not self.lead and not self.parser.pending:
            self.conn.remove_reply_tap(self)

    def _skim(self, data: bytes, emit: Callable[[bytes], None]) -> None:
        unsent = self.parser.held()[self.sent :]
        self.lead = max(0, self.lead - self.parser.skim(data))
        self.sent = self.parser.pending  # all of it is written just below
        emit(unsent + data if unsent else data)

    def _frames(self, data: bytes, emit: Callable[[bytes], None]) -> None:
        out: list[bytes] = []
        for frame in self.parser.feed(data):
            raw = frame.raw
            if self.sent:  # its first bytes went out while only counting
                raw, self.sent = raw[self.sent :], 0
            self._release(out)
            if self.closed:
                return
            self.seen(frame)
            front = self.specials[0] if self.specials and not self.lead else None
            if front is not None and front.slot is Slot.ASK and not self.is_async(frame):
                front.collected.append(frame)  # the answer to the proxy's question: kept back
                if self.is_unit_end(frame):
                    self._next_slot()
                    if front.done is not None:
                        front.done(front.collected)
                continue
            if not self.is_unit_end(frame):
                if front is None or front.slot is not Slot.CUT_AFTER:
                    out.append(raw)
                continue
            if front is None:
                self.lead = max(0, self.lead - 1)
                out.append(raw)
                continue
            self._next_slot()
            if front.slot is Slot.CUT_AFTER:
                self._cut(out, emit)
                return
            if front.slot is Slot.FAIL and front.payload is not None:
                out.append(front.payload())
                raw = self.fail_end(raw)
            out.append(raw)
        self._release(out)
        if out:
            emit(b"".join(out))

    def _next_slot(self) -> None:
        self.lead = self.specials.popleft().then

    def _release(self, out: list[bytes]) -> None:
        """Emit the made-up answers (and a cut) whose turn has come."""
        while not self.lead and self.specials and self.specials[0].slot in OWN_TURN:
            pending = self.specials[0]
            self._next_slot()
            if pending.slot is Slot.CUT_NOW:
                self.specials.clear()
                self.closed = True
                if out:
                    self.conn.reply(self, b"".join(out))
                    out.clear()
                self.conn.close()
                return
            assert pending.payload is not None
            out.append(pending.payload())

    def _cut(self, out: list[bytes], emit: Callable[[bytes], None]) -> None:
        self.closed = True
        self.specials.clear()
        if out:
            emit(b"".join(out))
        self.conn.close()
