"""RESP (the Redis protocol) as a pure, sans-I/O parser: ``feed(bytes) -> frames``.

Each frame keeps its raw bytes, so a toxic can forward exactly what arrived,
delay it, or answer instead of forwarding. Commands (client to server) are
arrays of bulk strings or inline lines; replies (server to client) are any
RESP2 or RESP3 value. Input that is not RESP switches the parser to
pass-through: the rest comes out as opaque frames, never an exception.
"""

from __future__ import annotations

from typing import NamedTuple

try:  # a dependency through redis[hiredis]; the pure-Python count is the fallback
    import hiredis
except ImportError:  # pragma: no cover
    hiredis = None

from chaoslib.proxy.wire.base import FrameParser, WireError

CRLF = b"\r\n"
# RESP3 types whose payload is one line, and those that carry a length-prefixed blob.
LINE_TYPES = frozenset(b"+-:_,#(")
BLOB_TYPES = frozenset(b"$!=")
AGGREGATE_TYPES = frozenset(b"*~>")  # n elements
PAIR_TYPES = frozenset(b"%|")  # n key/value pairs
MAX_LINE = 64 * 1024
SENTINEL = b"+S\r\n"  # a header line longer than this is not RESP


class NotResp(WireError):
    """The bytes cannot be RESP."""


class Frame(NamedTuple):
    # A NamedTuple, not a frozen dataclass: one is built per command on the hot path.
    raw: bytes
    args: tuple[bytes, ...] | None = None  # a command's words; None for a reply or opaque bytes
    opaque: bool = False

    @property
    def command(self) -> str:
        return self.args[0].decode("latin-1").upper() if self.args else ""

    @property
    def key(self) -> bytes | None:
        return self.args[1] if self.args and len(self.args) > 1 else None


def _line(buf: bytes | bytearray, pos: int) -> tuple[bytes, int] | None:
    end = buf.find(CRLF, pos)
    if end < 0:
        if len(buf) - pos > MAX_LINE:
            raise NotResp("header line too long")
        return None
    return bytes(buf[pos:end]), end + 2


def _int(text: bytes) -> int:
    # Digits only, as Redis reads them: int() would also take "+1", " 1" and "1_0".
    if not (text[1:] if text[:1] == b"-" else text).isdigit():
        raise NotResp(f"bad length {text[:20]!r}")
    return int(text)


def value_end(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Where the RESP value starting at ``pos`` ends, or None if it is not complete yet."""
    if pos >= len(buf):
        return None
    kind = buf[pos]
    got = _line(buf, pos + 1)
    if got is None:
        return None
    header, pos = got
    if kind in LINE_TYPES:
        return pos
    if kind in BLOB_TYPES:
        size = _int(header)
        if size < 0:  # $-1: the RESP2 null
            return pos
        end = pos + size + 2
        if len(buf) < end:
            return None
        if buf[end - 2 : end] != CRLF:
            raise NotResp("blob not followed by CRLF")
        return end
    if kind in AGGREGATE_TYPES or kind in PAIR_TYPES:
        count = _int(header)
        count = count * 2 if kind in PAIR_TYPES else count
        for _ in range(max(count, 0)):
            nxt = value_end(buf, pos)
            if nxt is None:
                return None
            pos = nxt
        return pos
    raise NotResp(f"unknown type byte {bytes([kind])!r}")


def _header(buf: bytes, pos: int) -> tuple[int, int] | None:
    """The number after a type byte at ``pos``, and where the line ends."""
    end = buf.find(CRLF, pos)
    if end < 0:
        if len(buf) - pos > MAX_LINE:
            raise NotResp("header line too long")
        return None
    return _int(buf[pos + 1 : end]), end + 2


def _command(buf: bytes, pos: int, keep: bool = True) -> tuple[Frame | None, int] | None:
    """A ``*N`` array of bulk strings at ``pos``, in one pass (the hot path of a toxic).
    Without ``keep`` only where it ends is found (counting, no frame built)."""
    got = _header(buf, pos)
    if got is None:
        return None
    count, at = got
    args = []
    size_all = len(buf)
    for _ in range(count):
        if at >= size_all:
            return None
        if buf[at] != 36:  # "$"
            raise NotResp("a command is an array of bulk strings")
        got = _header(buf, at)
        if got is None:
            return None
        size, start = got
        end = start + size
        if size < 0 or end + 2 > size_all:
            if size < 0:
                raise NotResp("a command's bulk string has a negative length")
            return None
        if buf[end : end + 2] != CRLF:
            raise NotResp("bulk string not followed by CRLF")
        if keep:
            args.append(buf[start:end])
        at = end + 2
    return (Frame(buf[pos:at], tuple(args)) if keep else None), at


class WholeCounter:
    """How many RESP values a chunk holds, if it is whole values only (else None).

    hiredis counts in C, some 15 times faster than the Python walk. It cannot
    tell a RESP3 push from an array, nor read inline commands, nor say how much
    of a split value it holds; for all of those the caller parses in Python."""

    def __init__(self, *, replies: bool) -> None:
        self.replies = replies
        self.reader = hiredis.Reader() if hiredis is not None else None

    def count(self, data: bytes) -> int | None:
        reader = self.reader
        if reader is None or (self.replies and b">" in data):
            return None
        reader.feed(data)
        count = 0
        try:
            while (value := reader.gets()) is not False:
                if not self.replies and type(value) is not list:
                    raise hiredis.ProtocolError("a command is an array; else Redis reads inline")
                count += 1
            # Its buffer may be empty in the middle of an array, so ask it to read one more
            # value: only at a boundary does the sentinel come back alone, as itself.
            reader.feed(SENTINEL)
            if reader.gets() == b"S" and not reader.has_data():
                return count  # and the reader is clean for the next chunk
        except hiredis.ProtocolError:
            pass
        self.reader = hiredis.Reader()
        return None


def count_whole(data: bytes, *, replies: bool) -> int | None:
    return WholeCounter(replies=replies).count(data)


class RespParser(FrameParser[Frame]):
    """One direction of a connection. ``commands=True`` for client to server."""

    def __init__(self, *, commands: bool) -> None:
        super().__init__()
        self.commands = commands
        self._whole = WholeCounter(replies=not commands)
        # Reading from mid-connection: a command must start here ("*" or an inline
        # word), or the read began inside one and nothing after can be trusted.
        self.unsynced = False

    def _check_sync(self, buf: bytes, pos: int) -> None:
        if self.unsynced:
            self.unsynced = False
            if buf[pos] != 42 and not chr(buf[pos]).isalpha():
                raise NotResp("joined in the middle of a command")

    def _opaque(self, data: bytes) -> Frame:
        return Frame(data, opaque=True)

    def skim(self, data: bytes) -> int:
        if not self._buf and not self.passthrough and not self.unsynced:
            count = self._whole.count(data)
            if count is not None:
                return count
        return super().skim(data)

    def _skip(self, buf: bytes, pos: int) -> tuple[bool, int] | None:
        self._check_sync(buf, pos)
        if self.commands:
            if buf[pos] != 42:
                got = self._next(buf, pos)
                return None if got is None else (True, got[1])
            counted = _command(buf, pos, keep=False)
            return None if counted is None else (True, counted[1])
        end = value_end(buf, pos)  # a reply; a push (">") answers no command
        return None if end is None else (buf[pos] != 62, end)

    def _next(self, buf: bytes, pos: int) -> tuple[Frame, int] | None:
        self._check_sync(buf, pos)
        if self.commands and buf[pos] != 42:  # not "*": an inline command, words on one line
            end = buf.find(b"\n", pos)
            if end < 0:
                if len(buf) - pos > MAX_LINE:
                    raise NotResp("inline command too long")
                return None
            raw = buf[pos : end + 1]
            return Frame(raw, tuple(raw.split())), end + 1
        if self.commands:
            return _command(buf, pos)  # type: ignore[return-value]
        end = value_end(buf, pos)
        if end is None:
            return None
        return Frame(buf[pos:end]), end


def encode_command(*args: bytes | str) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def error_reply(text: str) -> bytes:
    """``-ERR text`` style reply; ``text`` starts with its code (LOADING, READONLY, OOM, ...)."""
    return b"-" + text.replace("\r", " ").replace("\n", " ").encode() + CRLF
