"""An in-memory connection on a virtual clock, to test each toxic's rule without sockets.

Why: through real sockets a toxic test measures the machine's timers as much as the
rule (hence the tolerances in ``tests/proxy/test_toxics.py``). Here the loop's clock jumps to
the next timer whenever it would otherwise wait, so a chunk leaves exactly when the rule
says and a 10 s timeout takes microseconds. This generalises ``Wire`` in
``tests/unit/test_sequencer.py``, as Toxiproxy's tests feed a ``ToxicStub``'s channels.

:class:`FakeConnection` is a toxic's context, a plain class matching the toxics' context
protocol by shape only (so renaming that protocol cannot break it); it records what was
written, replied, closed or reset, and when. :func:`drive` plays one direction: the
toxics in order, through the proxy's own ``run_chain`` as ``Direction`` does, chunks
read at their ``read_at``, an optional end of stream, toxics removed or updated.
"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaoslib.proxy.chain import Entry, run_chain
from chaoslib.proxy.toxics import TOXIC_TYPES, Chunk, Toxic


class VirtualLoop(asyncio.BaseEventLoop):
    """An event loop with no I/O whose clock only moves when there is nothing left to run.

    ``BaseEventLoop._run_once`` asks its selector to wait until the next timer; this
    loop's "selector" moves the clock there instead. With nothing scheduled at all the
    run is over (``quiet``): a real loop would wait for I/O that can never come. A timer
    past ``horizon`` stops the loop at the horizon (bandwidth 0 stalls in hour-long naps).
    """

    def __init__(self, horizon: float = float("inf")) -> None:
        super().__init__()
        self._now = 0.0
        self._selector = _Clock(self)
        self.horizon = horizon  # the clock stops here, and so does the loop
        self.quiet = False  # whether the loop stopped because nothing was left to happen

    def time(self) -> float:
        return self._now

    def _process_events(self, event_list: list[Any]) -> None:
        """No file descriptors: never any event."""

    def _write_to_self(self) -> None:
        """No other thread wakes this loop."""


class _Clock:
    """The selector's place in ``_run_once``: instead of waiting, move the clock on."""

    def __init__(self, loop: VirtualLoop) -> None:
        self.loop = loop

    def select(self, timeout: float | None) -> list[Any]:
        loop = self.loop
        if timeout is None:  # nothing ready, no timer: the run is over
            loop.quiet = True
            loop.stop()
        elif timeout > 0:
            # Jump to the timer's own deadline, not now + timeout, so times stay exact.
            scheduled = loop._scheduled  # (private, but how _run_once got the timeout)
            due = loop._now + timeout
            due = min(scheduled[0]._when, due) if scheduled else due
            if due > loop.horizon:
                due = loop.horizon
                loop.stop()
            loop._now = due
        return []


@dataclass(frozen=True)
class Piece:
    """Bytes that left the chain (or were replied), and the virtual time they left."""

    data: bytes
    at: float


class FakeConnection:
    """A toxic's context: what it may do to its connection, recorded instead of done."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, seed: int = 1) -> None:
        self.loop = loop
        self.rng = random.Random(seed)  # seeded: jitter and slice sizes can be replayed
        self.max_buffered = 4 << 20
        self.written: list[Piece] = []
        self.replies: list[Piece] = []
        self.taps: list[Any] = []
        self.seen = 0  # bytes fed in
        self.closed_at: float | None = None
        self.reset = False
        self.connected_at: float | None = None  # when the upstream would open (on_connect)
        self.ended_at = 0.0  # when the run stopped (closed, quiet or at the horizon)
        self.quiet = False  # stopped because nothing more could happen
        self.on_close: Callable[[], object] | None = None  # the driver stops the run

    @property
    def mid_stream(self) -> bool:
        """Whether anything was sent yet (a protocol toxic joining late)."""
        return self.seen > 0

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def data(self) -> bytes:
        return b"".join(piece.data for piece in self.written)

    @property
    def times(self) -> list[float]:
        return [piece.at for piece in self.written]

    def close(self, *, reset: bool = False) -> None:
        """The first close counts, as in ``Connection.close``: FIN, or RST with ``reset``."""
        if self.closed:
            return
        self.closed_at = self.loop.time()
        self.reset = reset
        if self.on_close is not None:
            self.on_close()

    def add_reply_tap(self, tap: Any) -> None:
        self.taps.insert(0, tap)  # nearest the destination last, as Connection does

    def remove_reply_tap(self, tap: Any) -> None:
        self.taps = [t for t in self.taps if t is not tap]

    def reply(self, tap: Any, data: bytes) -> None:
        """An answer a protocol toxic made up, sent to the client past ``tap``."""
        self.to_client(data)

    def to_client(self, data: bytes) -> None:
        """Bytes that reach the client: made-up answers and the server's replies alike."""
        self.replies.append(Piece(data, self.loop.time()))

    @property
    def answered(self) -> bytes:
        """Everything the client was sent back, in order."""
        return b"".join(piece.data for piece in self.replies)

    def write(self, data: bytes) -> None:
        if data and not self.closed:
            self.written.append(Piece(data, self.loop.time()))


@dataclass(frozen=True)
class Remove:
    """Remove ``toxic`` at virtual time ``at`` (``DELETE /proxies/p/toxics/name``)."""

    toxic: Toxic
    at: float


@dataclass(frozen=True)
class Update:
    """Merge ``attributes`` into ``toxic`` at virtual time ``at`` (``POST .../toxics/name``)."""

    toxic: Toxic
    at: float
    attributes: dict[str, Any] = field(default_factory=dict)


def make(type_name: str, stream: str = "downstream", **attributes: Any) -> Toxic:
    """A toxic as the API would build it, its attributes checked by the schema."""
    cls = TOXIC_TYPES[type_name]
    return cls(type_name, stream, 1.0, cls.parse_attributes(attributes))


class _Direction:
    """One direction's queue and pump, as ``Direction`` has them, minus the transports."""

    def __init__(self, conn: FakeConnection, toxics: Sequence[Toxic]) -> None:
        self.conn = conn
        self.loop = conn.loop
        self.entries = [Entry(toxic, True, toxic.new_state()) for toxic in toxics]
        self.queue: collections.deque[Chunk | None] = collections.deque()
        self.early: list[Chunk | None] = []  # arrived before the upstream opened
        self.wakeup: asyncio.Future[None] | None = None
        self.fast = self._inline_only()

    def _inline_only(self) -> bool:
        """One inline (protocol) toxic: the proxy runs it synchronously, no pump."""
        return len(self.entries) == 1 and self.entries[0].toxic.inline

    def _wake(self) -> None:
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)

    def feed(self, chunk: Chunk | None) -> None:
        if self.conn.closed:
            return
        if self.conn.connected_at is None:
            self.early.append(chunk)
            return
        if chunk is not None:
            self.conn.seen += len(chunk.data)
            if self.fast:
                entry = self.entries[0]
                out, later = entry.toxic.run_inline(chunk.data, self.conn, entry.state)
                self.conn.write(out)
                if later is None:
                    return
                self.fast, chunk = False, later
        elif self.fast:
            self.conn.close()  # EOF on the fast path: the connection closes at once
            return
        self.queue.append(chunk)
        self._wake()

    def connected(self) -> None:
        """The upstream opened: early bytes are read now, so their time is now (as in Connection)."""
        self.conn.connected_at = now = self.loop.time()
        early, self.early = self.early, []
        for chunk in early:
            self.feed(None if chunk is None else Chunk(chunk.data, now))

    def remove(self, toxic: Toxic) -> None:
        """As ``ToxicCollection.remove`` then ``Direction.sync``: gone for the next chunk,
        sleepers woken, ``on_detach``, and what it held goes ahead of the queue."""
        entry = next(e for e in self.entries if e.toxic is toxic)
        self.entries.remove(entry)
        toxic.retire()
        toxic.on_detach(self.conn, entry.state)
        held = toxic.held(entry.state)
        if held:
            self.queue.appendleft(Chunk(held, self.loop.time()))
        self._wake()

    async def pump(self) -> None:
        """``Direction._pump_queue``: each chunk through the chain, then the end of stream."""
        while not self.conn.closed:
            if not self.queue:
                self.fast = self.fast or self._inline_only()
                self.wakeup = self.loop.create_future()
                await self.wakeup
                continue
            chunk = self.queue.popleft()
            if chunk is None:
                for entry in list(self.entries):
                    if not await entry.toxic.on_eof(self.conn, entry.state):
                        return  # the toxic closed the connection itself
                self.conn.close()
                return
            await run_chain(chunk, list(self.entries), self.conn, self._closed, self._out)

    def _closed(self) -> bool:
        return self.conn.closed

    async def _out(self, data: bytes) -> None:
        self.conn.write(data)


async def _at(loop: asyncio.AbstractEventLoop, when: float) -> None:
    """Sleep until exactly ``when`` (``asyncio.sleep`` would add a float difference)."""
    if when > loop.time():
        waiter = loop.create_future()
        loop.call_at(when, lambda: waiter.done() or waiter.set_result(None))
        await waiter


def drive(
    toxics: Sequence[Toxic],
    chunks: Iterable[Chunk],
    *,
    eof_at: float | None = None,
    events: Iterable[Remove | Update] = (),
    horizon: float = 86_400.0,
    seed: int = 1,
) -> FakeConnection:
    """Run ``chunks`` through ``toxics`` (in order) on a virtual clock starting at 0.

    The connection opens at 0 (``on_attach``, then ``on_connect`` before any chunk is
    let in); each chunk is read at its ``read_at``; the stream ends at ``eof_at``
    (None: never); ``events`` happen at their time (after a chunk read at the same
    time). The run stops when the connection closes, when nothing more can happen,
    or at ``horizon``. A toxic that raises fails the test rather than being logged.
    """
    loop = VirtualLoop(horizon)
    errors: list[BaseException] = []
    loop.set_exception_handler(
        lambda _, ctx: errors.append(ctx.get("exception") or AssertionError(ctx["message"]))
    )
    conn = FakeConnection(loop, seed=seed)
    direction = _Direction(conn, toxics)
    tasks: list[asyncio.Task[None]] = []
    conn.on_close = loop.stop  # a closed connection does nothing more
    timeline: list[tuple[float, Any]] = [(c.read_at, Chunk(c.data, c.read_at)) for c in chunks]
    if eof_at is not None:
        timeline.append((eof_at, None))
    timeline += [(event.at, event) for event in events]
    timeline.sort(key=lambda item: item[0])  # stable: chunks first, then EOF, then events

    async def connect() -> None:
        for entry in direction.entries:
            if not conn.closed:
                await entry.toxic.on_connect(conn, entry.state)
        direction.connected()
        tasks.append(loop.create_task(direction.pump()))

    async def feed() -> None:
        for when, item in timeline:
            await _at(loop, when)
            if isinstance(item, Remove):
                direction.remove(item.toxic)
            elif isinstance(item, Update):
                toxic = item.toxic
                toxic.attributes = toxic.parse_attributes(item.attributes, base=toxic.attributes)
                toxic.interrupt()
            else:
                direction.feed(item)

    try:
        for entry in direction.entries:
            entry.toxic.on_attach(conn, entry.state)
        tasks += [loop.create_task(connect()), loop.create_task(feed())]
        loop.run_forever()
        conn.ended_at, conn.quiet = loop.time(), loop.quiet
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        errors += [t.exception() for t in tasks if not t.cancelled() and t.exception()]
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
    if errors:
        raise errors[0]
    return conn
