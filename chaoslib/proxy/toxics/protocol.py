"""Protocol-aware toxics: a thin pump around a sans-I/O parser of what the client sends.

Each statement (a Redis command, a PostgreSQL query) that matches is delayed,
answered with an error instead of being forwarded, or ends the connection.
Everything else is forwarded byte for byte.

An answer the proxy makes up must land in its place among the server's
replies, also in a pipeline: see :mod:`chaoslib.proxy.toxics.sequencer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic
from chaoslib.proxy.toxics.sequencer import Pending, Sequencer, Slot
from chaoslib.proxy.wire.base import FrameParser

ASK_TIMEOUT = 5.0  # how long a statement waits for the server to answer the proxy's question


@dataclass
class Session:
    """One connection's state: the request parser, the sequencer, what is being dropped."""

    requests: FrameParser[Any]
    sequencer: Sequencer | None = None
    cut: bool = False  # the connection is being closed: forward nothing more
    extra: dict[str, Any] = field(default_factory=dict)


class ProtocolToxic(Toxic):
    """Subclasses parse one protocol: ``match``, ``forward``, ``refuse``, ``cut``."""

    streams: ClassVar[tuple[str, ...]] = ("upstream",)
    inline = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.matched = 0  # statements acted on (delayed, answered, cut)
        self.passed = 0  # statements that did not match

    # -- protocol hooks ------------------------------------------------------------
    def new_parser(self) -> FrameParser[Any]:
        raise NotImplementedError

    def new_sequencer(self, ctx: ConnectionContext, session: Session) -> Sequencer:
        raise NotImplementedError

    def match(self, frame: Any, session: Session) -> bool | None:
        """True: a matching statement; False: a statement that does not match; None: not one."""
        raise NotImplementedError

    def forward(self, frame: Any, session: Session) -> bool:
        """Account for a frame that goes to the server (expect its reply); False drops it."""
        raise NotImplementedError

    def refuse(self, frame: Any, session: Session) -> None:
        """Answer a matching statement with the configured error instead of forwarding it."""
        raise NotImplementedError

    def cut(self, frame: Any, session: Session, out: bytearray) -> None:
        """End the connection at a matching statement."""
        raise NotImplementedError

    # -- the pump --------------------------------------------------------------------
    def new_state(self) -> Session:
        return Session(self.new_parser())

    def joined_late(self, session: Session) -> None:
        """The toxic was added to a live connection: its handshake is long past."""

    def on_attach(self, ctx: ConnectionContext, state: Session) -> None:
        if ctx.mid_stream:
            self.joined_late(state)
        state.requests.max_held = ctx.max_buffered
        state.sequencer = self.new_sequencer(ctx, state)
        state.sequencer.parser.max_held = ctx.max_buffered
        ctx.add_reply_tap(state.sequencer)

    def on_detach(self, ctx: ConnectionContext, state: Session) -> None:
        if state.sequencer is not None:
            state.sequencer.retired = True
            if not state.sequencer.specials and not state.sequencer.lead:
                ctx.remove_reply_tap(state.sequencer)

    def held(self, state: Session) -> bytes:
        return state.requests.take_pending()

    def counted(self, session: Session) -> None:
        """After a chunk was only counted: bring the session's state up to date."""

    def quick(self, data: bytes, session: Session) -> bool:
        """Whether no statement in ``data`` (held bytes and the new ones) can match,
        so its frames need only be counted."""
        return False

    def wanted(self) -> bool:
        """Whether one more match may be acted on (``count`` 0: no limit)."""
        count = getattr(self.attributes, "count", 0)
        return not count or self.matched < count

    def lookup(self, frame: Any, session: Session) -> bytes | None:
        """A question to ask the server before this frame can be judged (see pg_query).
        Only asked with a sequencer on the connection, which routes the answer back."""
        return None

    def learn(self, frame: Any, session: Session, answer: list[Any]) -> None:
        """The server's answer to ``lookup``'s question (empty if none came in time)."""

    def _sift(self, frames: list[Any], start: int, state: Session, out: bytearray) -> int | None:
        """Handle ``frames[start:]`` at once. Stops at a frame that needs to wait: a match
        to delay, or a question for the server first; returns its index."""
        for index in range(start, len(frames)):
            frame = frames[index]
            if state.cut:
                continue
            if self.lookup(frame, state) is not None:
                return index
            hit = self.match(frame, state)
            if hit is False:
                self.passed += 1
            if not hit or not self.wanted():
                if self.forward(frame, state):
                    out += frame.raw
                continue
            action = self.attributes.action
            if action == "delay":
                return index  # counted when the delay runs
            self.matched += 1
            if action == "error":
                self.refuse(frame, state)
            else:
                self.cut(frame, state, out)
        return None

    def run_inline(
        self, data: bytes, ctx: ConnectionContext, state: Session
    ) -> tuple[bytes, Chunk | None]:
        requests = state.requests
        held = requests.held()
        both = held + data if held else data
        if self.quick(both, state):
            # Whole frames go on as they came; a split one waits, as it may yet match.
            count = requests.skim(data)
            self.counted(state)
            self.passed += count
            if state.sequencer is not None:
                state.sequencer.expect_replies(count)
            return (both[: len(both) - requests.pending] if requests.pending else both), None
        frames = state.requests.feed(data)
        out = bytearray()
        index = self._sift(frames, 0, state, out)
        if index is None:
            # All of it forwarded, nothing held before or after: the very bytes read.
            whole = not held and not requests.pending and len(out) == len(data)
            return (data if whole else bytes(out)), None
        later = frames[index:]
        return bytes(out), Chunk(b"".join(f.raw for f in later), ctx.loop.time(), later)

    async def pipe(
        self, chunk: Chunk, ctx: ConnectionContext, state: Session
    ) -> AsyncIterator[bytes]:
        out = bytearray()
        read_at = chunk.read_at
        frames = chunk.frames if chunk.frames is not None else state.requests.feed(chunk.data)
        index = self._sift(frames, 0, state, out)
        while index is not None:
            frame = frames[index]
            if out:
                yield bytes(out)
                out.clear()
            question = self.lookup(frame, state)
            if question is not None:
                answer: asyncio.Future[list[Any]] = ctx.loop.create_future()
                state.sequencer.expect(
                    Pending(Slot.ASK, done=lambda got, f=answer: f.done() or f.set_result(got))
                )
                yield question
                try:
                    self.learn(frame, state, await asyncio.wait_for(answer, ASK_TIMEOUT))
                except TimeoutError:
                    self.learn(frame, state, [])
                index = self._sift(frames, index, state, out)  # the same frame, now known
                continue
            self.matched += 1
            # Every matching frame of one read is due at the same time (pipelined
            # commands are not delayed in turn); what leaves after carries that time on.
            due = read_at + self.attributes.delay_ms / 1000
            if await self.sleep(ctx, due - ctx.loop.time()):
                chunk.read_at = due
            if self.forward(frame, state):
                out += frame.raw
            index = self._sift(frames, index + 1, state, out)
        if out:
            yield bytes(out)

    def to_json(self) -> dict[str, Any]:
        # New toxic types only, so a Toxiproxy client never meets this key.
        return {**super().to_json(), "stats": {"matched": self.matched, "passed": self.passed}}
