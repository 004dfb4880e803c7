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
        self._buf = b""
        self.passthrough = False
        # A frame longer than this is not waited for: the parser turns pass-through, so a
        # huge value costs no memory (the proxy's max_buffered; set by the toxic).
        self.max_held = 4 << 20

    def _next(self, buf: bytes, pos: int) -> tuple[F, int] | None:
        """One complete frame at ``pos`` and where it ends, or None to wait for more."""
        raise NotImplementedError

    def _opaque(self, data: bytes) -> F:
        raise NotImplementedError

    def feed(self, data: bytes) -> list[F]:
        if self.passthrough:
            held, self._buf = self._buf, b""  # switched by the caller (TLS): the rest is opaque
            data = held + bytes(data) if held else bytes(data)
            return [self._opaque(data)] if data else []
        # Frames are cut out by position and the rest kept once per feed: deleting
        # from the front frame by frame would cost O(n^2) on a long pipeline.
        buf = self._buf + bytes(data) if self._buf else bytes(data)
        frames: list[F] = []
        pos, size = 0, len(buf)
        try:
            while pos < size and not self.passthrough:
                got = self._next(buf, pos)
                if got is None:
                    break
                frame, pos = got
                frames.append(frame)
        except WireError:
            self.passthrough = True
        self._buf = buf[pos:] if pos else buf
        if len(self._buf) > self.max_held:
            self.passthrough = True
        if self.passthrough and self._buf:
            frames.append(self._opaque(self._buf))
            self._buf = b""
        return frames

    def _skip(self, buf: bytes, pos: int) -> tuple[bool, int] | None:
        """Like ``_next`` without building the frame: is it a unit end, and where it ends."""
        raise NotImplementedError

    def skim(self, data: bytes) -> int:
        """Advance like ``feed`` but only count the frames ``_skip`` calls unit ends."""
        if self.passthrough:
            return 0
        buf = self._buf + bytes(data) if self._buf else bytes(data)
        pos, size, count = 0, len(buf), 0
        try:
            while pos < size:
                got = self._skip(buf, pos)
                if got is None:
                    break
                unit, pos = got
                count += unit
        except WireError:
            self.passthrough = True
            self._buf = b""
            return count
        self._buf = buf[pos:] if pos else buf
        if len(self._buf) > self.max_held:
            self.passthrough = True
            self._buf = b""  # the caller forwards all of it: nothing is pending now
        return count

    def held(self) -> bytes:
        return self._buf

    def take_pending(self) -> bytes:
        """Hand over the bytes held back (the parser is being dropped)."""
        data, self._buf = self._buf, b""
        return data

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)
