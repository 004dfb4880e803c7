"""The feed loop the wire parsers share: whole frames out, the rest held back."""

from __future__ import annotations

from typing import Generic, TypeVar

F = TypeVar("F")


class WireError(Exception):
    """The bytes are not this protocol."""


class FrameParser(Generic[F]):
    """``feed(bytes) -> frames``. Bytes that are not the protocol switch the parser to
    pass-through: from then on everything comes out as opaque frames, never an exception,
    so a proxy keeps forwarding what it cannot read."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.passthrough = False

    def _next(self) -> F | None:
        """One complete frame from the front of the buffer, or None to wait for more."""
        raise NotImplementedError

    def _opaque(self, data: bytes) -> F:
        raise NotImplementedError

    def feed(self, data: bytes) -> list[F]:
        if self.passthrough:
            return [self._opaque(bytes(data))] if data else []
        self._buf += data
        frames: list[F] = []
        try:
            while self._buf and not self.passthrough:
                frame = self._next()
                if frame is None:
                    break
                frames.append(frame)
        except WireError:
            self.passthrough = True
        if self.passthrough and self._buf:
            frames.append(self._opaque(bytes(self._buf)))
            self._buf = bytearray()
        return frames

    def take_pending(self) -> bytes:
        """Hand over the bytes held back (the parser is being dropped)."""
        data, self._buf = bytes(self._buf), bytearray()
        return data

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)
