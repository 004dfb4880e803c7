"""Running one chunk through a direction's chain of toxics, without recursing per toxic.

Each toxic's ``pipe`` turns one chunk into zero or more pieces, and every piece
goes through the rest of the chain, and out, before the toxic makes its next
one (a slicer's second slice leaves after its first has). That is a depth-first
walk, which nested ``async for`` loops express naturally, but at three Python
frames per toxic: a few hundred toxics on one direction (``-max-toxics`` raised)
hit the recursion limit and killed the pump. Here the walk keeps its own stack
of the toxics' generators instead, so the chain's length costs memory, not depth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chaoslib.proxy.toxics.base import Chunk, ConnectionContext, Toxic


@dataclass
class Entry:
    """A toxic as seen by one direction of one connection."""

    toxic: Toxic
    active: bool  # the toxicity draw, made once per connection and direction
    state: Any


def _next_active(entries: list[Entry], index: int) -> int:
    # Asked as a piece goes deeper, not once per chunk: a toxic redrawn (toxicity
    # updated) while the piece slept in an earlier one counts as it is now.
    while index < len(entries) and not entries[index].active:
        index += 1
    return index


async def run_chain(
    chunk: Chunk,
    entries: list[Entry],
    ctx: ConnectionContext,
    closed: Callable[[], bool],
    out: Callable[[bytes], Awaitable[None]],
) -> None:
    """Pass ``chunk`` through the active ``entries`` in order; ``out`` gets what leaves.

    Stops as soon as ``closed()`` says the connection ended; the toxics' generators
    are closed either way (also when the pump is cancelled), not left to the collector.
    """
    first = _next_active(entries, 0)
    if first == len(entries):
        if not closed():
            await out(chunk.data)
        return
    entry = entries[first]
    # (index of the toxic, its generator, the chunk it was given), outermost first.
    # The chunk stays with its generator: a toxic that held it back moves its
    # ``read_at`` on (latency does), and the pieces it makes carry that time deeper.
    stack: list[tuple[int, AsyncIterator[bytes], Chunk]] = [
        (first, entry.toxic.pipe(chunk, ctx, entry.state), chunk)
    ]
    try:
        while stack and not closed():
            index, pieces, given = stack[-1]
            try:
                piece = await anext(pieces)
            except StopAsyncIteration:
                stack.pop()
                continue
            if closed():
                return
            deeper = _next_active(entries, index + 1)
            if deeper == len(entries):
                await out(piece)
                continue
            entry = entries[deeper]
            piece_chunk = Chunk(piece, given.read_at)
            stack.append((deeper, entry.toxic.pipe(piece_chunk, ctx, entry.state), piece_chunk))
    finally:
        while stack:
            close = getattr(stack.pop()[1], "aclose", None)  # (any async iterator will do)
            if close is not None:
                await close()
