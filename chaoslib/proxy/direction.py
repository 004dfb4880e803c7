"""One direction of a proxied connection: the fast path, the toxic pump, the taps.

Each direction forwards bytes one of two ways:

- **fast path**: while the direction has no active toxic (or only one
  protocol toxic, which runs inline), ``data_received`` writes straight to the
  other transport, with no coroutine per chunk.
  Backpressure: when the destination's write buffer fills, the source stops
  reading until it drains.
- **toxic path**: chunks queue up and one pump task runs each through the
  chain of toxics in order. Changing the chain only changes the list the next
  chunk sees, and a chunk sleeping in a toxic that changes is forwarded at
  once, so no byte is lost or reordered (except by ``timeout``, which drops).

A direction goes back to the fast path only once its queue has drained.

What a direction holds (its queue, the chunk the pump has in hand, and what the
destination's transport has not yet handed to the kernel) is counted as one
figure: reading pauses once it passes ``-max-buffered``, so it stays under the
cap plus the one read that was already under way. The transports buffer
nothing before they ask to pause (see :func:`chaoslib.proxy.connection.bound_transport`).

A pump that fails (a toxic raising) resets its connection and logs why: a
connection must never hang with nobody forwarding its bytes.

The chain reaches a direction by ``sync``: at once for toxics with
attach-time effects, otherwise before the direction's next chunk (a version
number per proxy says when), so an API call need not walk every connection.

A direction may also carry a **tap**: protocol toxics on the other direction
install one to see whole replies at the moment they are written, so an answer
they inject lands in its place in a pipeline. The tap runs on either path.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Protocol

from loguru import logger

from chaoslib.proxy.chain import Entry, run_chain  # (Entry: where it used to be defined)
from chaoslib.proxy.toxics.base import Chunk, Toxic
from chaoslib.proxy.views import ChainView, DirectionOwner

_EOF = None


class Tap(Protocol):
    """Sees every byte a direction writes and decides what actually goes out."""

    def filter(self, data: bytes, emit: Callable[[bytes], None]) -> None: ...


class Direction:
    """Bytes flowing one way (``upstream``: client to server; ``downstream``: back)."""

    def __init__(self, conn: DirectionOwner, proxy: ChainView, stream: str) -> None:
        """``proxy`` is only what the direction reads of it: the chain, its version, the
        counters (a view, so the data plane's parts do not import one another)."""
        self.conn = conn
        self.proxy = proxy
        self.stream = stream
        self.version = -1  # the proxy's toxics_version this direction's entries match
        self.src: asyncio.Transport | None = None
        self._dst: asyncio.Transport | None = None
        self.inline: Entry | None = None  # a protocol toxic run synchronously on the fast path
        self.taps: list[Tap] = []
        self.entries: list[Entry] = []
        self.queue: collections.deque[Chunk | None] = collections.deque()
        self.queued_bytes = 0
        self.in_hand = 0  # bytes of the chunk the pump is running through the chain
        # Held bytes (see held()) above which the source pauses, and at or below which
        # it resumes.
        self.high_water = conn.max_buffered
        self.low_water = conn.max_buffered // 4
        self._fast = not proxy.general_path
        self.fast_ok = self._fast  # whether the chain allows the fast path (see _update_mode)
        self.pump_task: asyncio.Task[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None
        self.dst_paused = False
        self.src_paused_by_queue = False
        self.drained: asyncio.Future[None] | None = None
        self.counters = proxy.counters[stream]
        self.seen = 0  # bytes read from the source on this connection
        # The destination while nothing but a write is due: the fast path with no
        # inline toxic and no tap (see feed). None whenever any of that changes.
        self.plain: asyncio.Transport | None = None

    # -- what the fast path depends on -----------------------------------------
    @property
    def fast(self) -> bool:
        return self._fast

    @fast.setter
    def fast(self, value: bool) -> None:
        self._fast = value
        self.replain()

    @property
    def dst(self) -> asyncio.Transport | None:
        return self._dst

    @dst.setter
    def dst(self, transport: asyncio.Transport | None) -> None:
        self._dst = transport
        self.replain()

    def replain(self) -> None:
        """Recompute ``plain``: call after a change to the fast path, inline toxic, taps or dst."""
        dst = self._dst
        simple = self._fast and self.inline is None and not self.taps and not self.conn.closed
        self.plain = dst if simple and dst is not None and not dst.is_closing() else None

    # -- the chain ---------------------------------------------------------
    def sync(self) -> None:
        """Make the entries match the proxy's chain for this stream, in its order.

        Called for every connection when a toxic with attach-time effects is added
        or removed, and otherwise lazily before the next chunk (or EOF) is handled.
        """
        proxy = self.proxy
        self.version = proxy.toxics_version
        current = {id(entry.toxic): entry for entry in self.entries}
        entries = []
        for toxic in proxy.chain(self.stream):
            entry = current.pop(id(toxic), None)
            if entry is None:
                entry = Entry(toxic, self.conn.wants(toxic), toxic.new_state())
                entries.append(entry)
                if entry.active:
                    toxic.on_attach(self.conn, entry.state)
            else:
                entries.append(entry)
        self.entries = entries
        for entry in current.values():
            if entry.active:
                self._detach(entry)
        self._update_mode()

    def _detach(self, entry: Entry) -> None:
        entry.toxic.on_detach(self.conn, entry.state)
        # Bytes the toxic held back (half a frame) go next, ahead of later chunks.
        held = entry.toxic.held(entry.state)
        if held and self.fast:
            self._write(held)  # nothing is queued ahead of it
        elif held:
            self.queue.appendleft(Chunk(held, self.conn.loop.time()))
            self.queued_bytes += len(held)

    def retoxify(self, toxic: Toxic, toxicity_changed: bool) -> None:
        """The toxic was updated: keep its per-connection state; redraw only a new toxicity."""
        for entry in self.entries:
            if entry.toxic is toxic and toxicity_changed:
                was = entry.active
                entry.active = self.conn.wants(toxic)
                if entry.active and not was:
                    toxic.on_attach(self.conn, entry.state)
                elif was and not entry.active:
                    toxic.on_detach(self.conn, entry.state)
        self._update_mode()

    def _fast_ok(self) -> bool:
        """No active toxic, or one protocol toxic that runs inline; sets ``inline``."""
        if self.proxy.general_path:
            return False
        active = [e for e in self.entries if e.active]
        self.inline = active[0] if len(active) == 1 and active[0].toxic.inline else None
        self.replain()
        return not active or self.inline is not None

    def _update_mode(self) -> None:
        # Kept for the pump, which asks after every drained queue; only a chain change moves it.
        self.fast_ok = self._fast_ok()
        if not self.fast_ok:
            self.fast = False
            self._ensure_pump()
        else:
            self._wake()  # the pump drains what is queued, then hands back to the fast path

    # -- input -------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        plain = self.plain
        if plain is not None and self.version == self.proxy.toxics_version:
            # The common case (no toxic, no tap), as few steps as a bare forwarder's
            # but the counters: every read of every connection costs here.
            n = len(data)
            self.seen += n
            counters = self.counters
            counters.received += n
            plain.write(data)
            counters.sent += n
            return
        if self.version != self.proxy.toxics_version:
            self.sync()
        n = len(data)
        self.seen += n
        self.counters.received += n
        if self._fast:
            if self.inline is None:
                self._write(data)
                return
            data, later = self.inline.toxic.run_inline(data, self.conn, self.inline.state)
            self._write(data)
            if later is None:
                return
            # A statement to delay: it and everything after wait for the pump.
            self.fast = False
            self._ensure_pump()
            self._enqueue(later)
            return
        self._enqueue(Chunk(data, self.conn.loop.time()))

    def held(self) -> int:
        """Bytes read from the source that the destination's kernel socket has not taken."""
        dst = self.dst
        buffered = dst.get_write_buffer_size() if dst is not None else 0
        return self.queued_bytes + self.in_hand + buffered

    def _enqueue(self, chunk: Chunk) -> None:
        self._ensure_pump()  # (already running unless on the general path with no toxic)
        data = chunk.data
        self.queue.append(chunk)
        self.queued_bytes += len(data)
        if self.src and not self.src_paused_by_queue and self.held() > self.high_water:
            self.src_paused_by_queue = True
            self.src.pause_reading()
        self._wake()

    def _maybe_resume(self) -> None:
        """Resume a source the cap paused, once what is held has fallen to the low mark.

        Called whenever a part of ``held()`` shrinks with nothing else due to follow:
        a chunk leaves the chain, or the destination's buffer empties (resume_source).
        """
        if not self.src_paused_by_queue or self.held() > self.low_water:
            return
        self.src_paused_by_queue = False
        if self.src is not None and not self.dst_paused and not self.src.is_closing():
            self.src.resume_reading()

    def feed_eof(self) -> None:
        if self.version != self.proxy.toxics_version:
            self.sync()
        if self.fast:
            self.conn.close()
            return
        self._ensure_pump()
        self.queue.append(_EOF)
        self._wake()

    # -- output ------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        taps = self.taps
        if not taps:
            self.emit(data)
        elif len(taps) == 1:
            taps[0].filter(data, self.emit)
        else:
            self._through(0, data)

    def _through(self, index: int, data: bytes) -> None:
        if index == len(self.taps):
            self.emit(data)
        else:
            self.taps[index].filter(data, lambda out: self._through(index + 1, out))

    def emit_after(self, tap: Tap, data: bytes) -> None:
        """A tap's own output (an injected reply): through the taps after it only."""
        index = self.taps.index(tap) + 1 if tap in self.taps else len(self.taps)
        self._through(index, data)

    def emit(self, data: bytes) -> None:
        """Write to the destination."""
        if data and self.dst is not None and not self.dst.is_closing():
            self.dst.write(data)
            self.counters.sent += len(data)

    def pause_source(self) -> None:
        """The destination's buffer is full: stop reading from the source."""
        self.dst_paused = True
        if self.src is not None:
            self.src.pause_reading()

    def resume_source(self) -> None:
        self.dst_paused = False
        if self.drained and not self.drained.done():
            self.drained.set_result(None)
        if self.src_paused_by_queue:
            self._maybe_resume()
        elif self.src is not None and not self.src.is_closing():
            self.src.resume_reading()

    # -- the pump ----------------------------------------------------------------
    def _wake(self) -> None:
        if self.wakeup and not self.wakeup.done():
            self.wakeup.set_result(None)

    def _ensure_pump(self) -> None:
        if self.pump_task is None and not self.conn.closed:
            self.pump_task = self.conn.loop.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            await self._pump_queue()
        except Exception as exc:
            # Anything a toxic raises (an extension toxic's bug, an exhausted resource):
            # the chunk is lost, so the connection must end where both peers can see it.
            logger.opt(exception=exc).error(
                "proxy {}: forwarding {} for a connection from {} failed ({}: {}); "
                "resetting the connection",
                self.proxy.name,
                self.stream,
                self.conn.peer,
                type(exc).__name__,
                exc,
            )
            self.pump_task = None  # (so closing does not cancel this very task)
            self.conn.close(reset=True)
        finally:
            self.pump_task = None

    async def _pump_queue(self) -> None:
        while not self.conn.closed:
            if self.version != self.proxy.toxics_version:
                self.sync()
            if not self.queue:
                if self.fast_ok:
                    self.fast = True
                    return
                self.wakeup = self.conn.loop.create_future()
                await self.wakeup
                continue
            chunk = self.queue.popleft()
            if chunk is _EOF:
                await self._run_eof()
                return
            size = len(chunk.data)
            self.queued_bytes -= size
            self.in_hand = size  # still held: moved, not forwarded
            try:
                await run_chain(chunk, list(self.entries), self.conn, self._closed, self._out)
            finally:
                self.in_hand = 0
            self._maybe_resume()

    def _closed(self) -> bool:
        return self.conn.closed

    async def _out(self, data: bytes) -> None:
        """What leaves the chain: written once the destination has room."""
        if self.dst_paused:
            self.drained = self.conn.loop.create_future()
            await self.drained
        self._write(data)

    async def _run_eof(self) -> None:
        for entry in list(self.entries):
            if entry.active and not await entry.toxic.on_eof(self.conn, entry.state):
                return
        self.conn.close()

    def stop(self) -> None:
        # Cancelling the pump also cancels any sleep of its current chunk;
        # the toxics themselves are shared with other connections.
        if self.pump_task is not None:
            self.pump_task.cancel()
