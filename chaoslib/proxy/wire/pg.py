"""The PostgreSQL frontend protocol (client to server) as a pure, sans-I/O parser.

``feed(bytes) -> frames``: the startup phase (SSLRequest, GSSENCRequest,
CancelRequest, StartupMessage, which carry no type byte), then typed messages
(``Q`` simple query, ``P``/``B``/``E``/``S`` extended query, and the rest).
Each frame keeps its raw bytes. After an SSLRequest the server's one-byte
answer decides: ``S`` means TLS follows and the rest passes through opaque;
``N`` (TLS refused) means a StartupMessage comes next in the clear.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from chaoslib.proxy.wire.base import FrameParser, WireError

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_3 = 196608
MAX_MESSAGE = 1 << 30  # what PostgreSQL itself accepts
READY_AFTER = frozenset(b"QSF")  # Query, Sync, FunctionCall: each ends in ReadyForQuery


class NotPostgres(WireError):
    pass


class Frame(NamedTuple):
    # A NamedTuple, not a frozen dataclass: one is built per message on the hot path.
    raw: bytes
    kind: str  # a type byte ("Q", "P", ...), or "startup", "ssl", "gssenc", "cancel", "opaque"
    sql: str | None = None  # Query and Parse carry statement text
    statement: str | None = None  # Parse, Bind: the prepared statement's name
    portal: str | None = None  # Bind, Execute: the portal's name


def _typed_end(buf: bytes, pos: int) -> int | None:
    """Where the typed message (type byte, int32 length) at ``pos`` ends, once it is all here."""
    if len(buf) - pos < 5:
        return None
    (length,) = struct.unpack_from("!i", buf, pos + 1)
    if length < 4 or length > MAX_MESSAGE:
        raise NotPostgres(f"bad message length {length}")
    end = pos + 1 + length
    return end if len(buf) >= end else None


def _cstring(body: bytes, pos: int) -> tuple[str, int]:
    end = body.index(b"\0", pos)
    return body[pos:end].decode("utf-8", "replace"), end + 1


class FrontendParser(FrameParser[Frame]):
    def __init__(self) -> None:
        super().__init__()
        # The StartupMessage went through: typed messages follow. None: not known (a
        # proxy that starts reading mid-connection); the next byte tells, since a
        # startup-phase message begins with its length (0 first) and a typed one with a letter.
        self.started: bool | None = False
        self.last_kind = 0  # the type byte of the last message counted by ``skim``
        self.awaiting_ssl_answer = False

    def server_answered_ssl(self, answer: bytes) -> None:
        """The server's reply byte to an SSLRequest or GSSENCRequest (``S``/``G`` or ``N``)."""
        self.awaiting_ssl_answer = False
        if answer[:1] in (b"S", b"G"):
            self.passthrough = True  # encrypted from here on

    def _opaque(self, data: bytes) -> Frame:
        return Frame(data, "opaque")

    def _started(self, buf: bytes, pos: int) -> bool:
        if self.started is None:
            self.started = buf[pos] != 0
        return self.started

    def _skip(self, buf: bytes, pos: int) -> tuple[bool, int] | None:
        """Counting: a unit is a message the server answers with ReadyForQuery."""
        if not self._started(buf, pos):
            got = self._startup(buf, pos)
            return None if got is None else (got[0].kind == "startup", got[1])
        end = _typed_end(buf, pos)
        if end is None:
            return None
        self.last_kind = buf[pos]
        return self.last_kind in READY_AFTER, end

    def _next(self, buf: bytes, pos: int) -> tuple[Frame, int] | None:
        if not self._started(buf, pos):
            return self._startup(buf, pos)
        end = _typed_end(buf, pos)
        if end is None:
            return None
        return self._typed(chr(buf[pos]), buf[pos:end]), end

    def _typed(self, kind: str, raw: bytes) -> Frame:
        body = raw[5:]
        try:
            if kind == "Q":
                return Frame(raw, kind, sql=_cstring(body, 0)[0])
            if kind == "P":
                name, pos = _cstring(body, 0)
                return Frame(raw, kind, sql=_cstring(body, pos)[0], statement=name)
            if kind == "B":
                portal, pos = _cstring(body, 0)
                return Frame(raw, kind, statement=_cstring(body, pos)[0], portal=portal)
            if kind == "E":
                return Frame(raw, kind, portal=_cstring(body, 0)[0])
        except ValueError:
            raise NotPostgres(f"{kind} message without its terminator") from None
        return Frame(raw, kind)

    def _startup(self, buf: bytes, pos: int) -> tuple[Frame, int] | None:
        if self.awaiting_ssl_answer:
            return None  # nothing is parsed until the server has said S or N
        if len(buf) - pos < 8:
            return None
        length, code = struct.unpack_from("!ii", buf, pos)
        if length < 8 or length > 10_000:
            raise NotPostgres(f"bad startup length {length}")
        end = pos + length
        if len(buf) < end:
            return None
        raw = buf[pos:end]
        if code in (SSL_REQUEST, GSSENC_REQUEST):
            self.awaiting_ssl_answer = True
            return Frame(raw, "ssl" if code == SSL_REQUEST else "gssenc"), end
        if code == CANCEL_REQUEST:
            return Frame(raw, "cancel"), end
        if code >> 16 != 3:
            raise NotPostgres(f"unknown startup code {code}")
        self.started = True
        return Frame(raw, "startup"), end


class BackendParser(FrameParser[Frame]):
    """The server's side: typed messages, and the one-byte answer to an SSLRequest."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_due = False  # an SSLRequest or GSSENCRequest went out
        # Reading from mid-connection: an SSL answer may be due (N, S or G first).
        self.answer_maybe = False
        self.status = b"I"  # the transaction status of the last ReadyForQuery

    def _skip(self, buf: bytes, pos: int) -> tuple[bool, int] | None:
        end = _typed_end(buf, pos)
        if end is None:
            return None
        if buf[pos] != 90:  # "Z"
            return False, end
        self.status = buf[pos + 5 : pos + 6]
        return True, end

    def _opaque(self, data: bytes) -> Frame:
        return Frame(data, "opaque")

    def _next(self, buf: bytes, pos: int) -> tuple[Frame, int] | None:
        if self.answer_maybe:
            # The answer is one byte, and the server says nothing more until the client
            # speaks; a NoticeResponse or ParameterStatus comes with its length.
            self.answer_maybe = False
            self.answer_due = buf[pos] in b"NSG" and len(buf) == pos + 1
        if self.answer_due:
            self.answer_due = False
            return Frame(buf[pos : pos + 1], "answer"), pos + 1
        end = _typed_end(buf, pos)
        if end is None:
            return None
        if buf[pos] == 90:  # "Z"
            self.status = buf[pos + 5 : pos + 6]
        return Frame(buf[pos:end], chr(buf[pos])), end


def message(kind: str, body: bytes) -> bytes:
    return kind.encode() + struct.pack("!i", len(body) + 4) + body


def error_message(sqlstate: str, text: str, severity: str = "ERROR") -> bytes:
    """A real ErrorResponse, as the server would send it."""
    fields = b"".join(
        code + value.encode() + b"\0"
        for code, value in ((b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", text))
    )
    return message("E", fields + b"\0")


def error_response(sqlstate: str, text: str, severity: str = "ERROR") -> bytes:
    """ErrorResponse followed by ReadyForQuery (idle)."""
    return error_message(sqlstate, text, severity) + message("Z", b"I")
