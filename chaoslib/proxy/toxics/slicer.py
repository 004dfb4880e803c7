"""slicer: cut chunks into pieces of ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from chaoslib.proxy.errors import bad_request
from chaoslib.proxy.toxics.base import Chunk, LinkContext, Toxic, attr


@dataclass(frozen=True)
class SlicerAttributes:
    average_size: int = attr(unit="bytes")
    size_variation: int = attr(unit="bytes")
    delay: int = attr(unit="µs")


class Slicer(Toxic):
    type_name = "slicer"
    Attributes = SlicerAttributes

    @classmethod
    def validate(cls, attrs: SlicerAttributes) -> None:
        # Toxiproxy recurses forever on average_size <= 0 and dies; refuse it.
        if attrs.average_size < 1:
            raise bad_request(
                f"attribute average_size of slicer is {attrs.average_size}; accepted: 1 or more bytes"
            )
        if attrs.size_variation >= attrs.average_size:
            raise bad_request(
                f"attribute size_variation of slicer is {attrs.size_variation}; "
                f"accepted: 0 to average_size - 1 ({attrs.average_size - 1}) bytes"
            )

    async def pipe(self, chunk: Chunk, ctx: LinkContext, state: Any) -> AsyncIterator[bytes]:
        data = memoryview(chunk.data)
        attrs = self.attributes
        while data:
            size = attrs.average_size
            if attrs.size_variation:
                size += ctx.rng.randint(-attrs.size_variation, attrs.size_variation)
            piece, data = data[:size], data[size:]
            yield bytes(piece)
            if data and not await self.sleep(ctx, attrs.delay / 1_000_000):
                yield bytes(data)  # changed mid-chunk: forward the rest at once
                return
