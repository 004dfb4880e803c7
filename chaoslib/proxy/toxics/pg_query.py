"""pg_query: delay, fail or cut PostgreSQL statements whose SQL matches (an extension).

    {"type": "pg_query", "attributes": {"pattern": "INSERT INTO orders",
     "action": "delay", "delay_ms": 2000}}

``pattern`` is a case-insensitive regex searched in the statement's SQL, for a
simple ``Query`` and for the extended protocol (a ``Parse`` names the
statement; ``Bind`` and ``Execute`` of it match, however often it runs).
``action``: ``delay`` holds the statement ``delay_ms``; ``error`` answers it
with a real ErrorResponse (``sqlstate``, ``message``) and ReadyForQuery and
never forwards it (in a transaction block the client sees the transaction
failed, as it would); ``close`` ends the connection there, unexecuted.
``count`` stops after that many matches (0: no limit). A connection that
switches to TLS passes through untouched: its SQL cannot be read.

Added to a connection that is already open (a pool's), the toxic has not seen
the Parse of statements prepared earlier. At the first Bind of such a
statement it asks the server itself, in band, before forwarding the Bind:
``SELECT statement FROM pg_prepared_statements WHERE name = ...``; the answer
is kept from the client. So drivers that prepare (psycopg after 5 runs,
asyncpg always) are matched too.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from chaoslib.proxy.toxics.base import ConnectionContext
from chaoslib.proxy.toxics.protocol import ProtocolToxic, Session
from chaoslib.proxy.toxics.sequencer import Pending, Sequencer, Slot
from chaoslib.proxy.wire.pg import (
    READY_AFTER,
    BackendParser,
    Frame,
    FrontendParser,
    error_message,
    message,
)

SAFE_NAME = re.compile(r"[A-Za-z0-9_$.:-]{1,63}")
ASYNC_MESSAGES = frozenset("ANS")  # notification, notice, parameter status: any time
EXPECTS_READY = frozenset({"Q", "S", "F", "startup"})  # each gets one ReadyForQuery


class ReadySequencer(Sequencer):
    def __init__(self, conn: ConnectionContext, session: Session) -> None:
        self.replies = BackendParser()
        self.replies.answer_maybe = bool(session.extra.get("late"))
        super().__init__(conn, self.replies)
        self.session = session

    def is_unit_end(self, frame: Frame) -> bool:
        return frame.kind == "Z"

    def needs_frames(self) -> bool:
        # A one-byte answer to an SSLRequest comes (or, joined mid-handshake, may come) next.
        return self.replies.answer_due or self.replies.answer_maybe

    def seen(self, frame: Frame) -> None:
        if frame.kind == "answer":
            requests = self.session.requests
            assert isinstance(requests, FrontendParser)
            requests.server_answered_ssl(frame.raw)
            self.parser.passthrough = requests.passthrough

    def is_async(self, frame: Frame) -> bool:
        return frame.kind in ASYNC_MESSAGES

    def failed_status(self) -> bytes:
        return b"I" if self.replies.status == b"I" else b"E"

    def fail_end(self, raw: bytes) -> bytes:
        # In a transaction block the server is fine, but the client must see it failed.
        return raw if raw[5:6] == b"I" else message("Z", b"E")


class PgQuery(ProtocolToxic):
    type_name = "pg_query"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled: tuple[Any, re.Pattern[str]] | None = None

    def _pattern(self) -> re.Pattern[str]:
        if self._compiled is None or self._compiled[0] is not self.attributes:
            self._compiled = (self.attributes, re.compile(self.attributes.pattern, re.I | re.S))
        return self._compiled[1]

    def new_parser(self) -> FrontendParser:
        return FrontendParser()

    def joined_late(self, session: Session) -> None:
        assert isinstance(session.requests, FrontendParser)
        # Joined mid-connection: maybe mid-handshake, which the next bytes tell.
        session.requests.started = None
        session.extra["late"] = True

    def lookup(self, frame: Frame, session: Session) -> bytes | None:
        # Only at the start of an extended-query group: a Query mid-group would end it.
        if (
            frame.kind != "B"
            or not session.extra.get("late")
            or session.extra.get("group_open")
            or session.sequencer is None
            or frame.statement in session.extra.get("statements", {})
            or not SAFE_NAME.fullmatch(frame.statement or "")
        ):
            return None
        sql = f"SELECT statement FROM pg_prepared_statements WHERE name = '{frame.statement}'"
        return message("Q", sql.encode() + b"\0")

    def learn(self, frame: Frame, session: Session, answer: list[Frame]) -> None:
        sql = ""
        for reply in answer:
            if reply.kind == "D" and len(reply.raw) >= 11:
                (size,) = struct.unpack_from("!i", reply.raw, 7)
                sql = reply.raw[11 : 11 + max(size, 0)].decode("utf-8", "replace")
        matched = bool(sql) and bool(self._pattern().search(sql))
        session.extra.setdefault("statements", {})[frame.statement] = matched

    def quick(self, data: bytes, session: Session) -> bool:
        """No Query or Parse in ``data`` has matching SQL, and no matching statement is
        prepared: the messages need only be counted."""
        requests, extra = session.requests, session.extra
        assert isinstance(requests, FrontendParser)
        if not requests.started or requests.passthrough or extra.get("late"):
            return False
        if extra.get("hot") or extra.get("dropping"):
            return False
        pattern, pos, size = self._pattern(), 0, len(data)
        while pos + 5 <= size:
            (length,) = struct.unpack_from("!i", data, pos + 1)
            end = pos + 1 + length
            if length < 4 or end > size:
                break
            kind = data[pos]
            if kind == 81:  # Query: the SQL and its NUL
                sql = data[pos + 5 : end - 1]
            elif kind == 80:  # Parse: the statement's name, then the SQL
                start = data.find(b"\0", pos + 5, end) + 1
                sql = data[start : data.find(b"\0", start, end)]
            else:
                pos = end
                continue
            if pattern.search(sql.decode("utf-8", "replace")):
                return False
            pos = end
        return True

    def counted(self, session: Session) -> None:
        requests = session.requests
        assert isinstance(requests, FrontendParser)
        session.extra["group_open"] = requests.last_kind not in READY_AFTER

    def new_sequencer(self, ctx: ConnectionContext, session: Session) -> Sequencer:
        return ReadySequencer(ctx, session)

    def match(self, frame: Frame, session: Session) -> bool | None:
        if session.extra.get("dropping"):
            return None
        if frame.kind == "Q":
            return bool(self._pattern().search(frame.sql or ""))
        statements = session.extra.setdefault("statements", {})
        portals = session.extra.setdefault("portals", {})
        if frame.kind == "P":
            matched = bool(self._pattern().search(frame.sql or ""))
            statements[frame.statement] = matched
            if matched:
                session.extra["hot"] = True  # its Binds must be followed: no more quick path
        elif frame.kind == "B":
            portals[frame.portal] = statements.get(frame.statement, False)
        elif frame.kind == "E":
            return portals.get(frame.portal, False)
        return None

    def forward(self, frame: Frame, session: Session) -> bool:
        sequencer = session.sequencer
        if session.extra.get("dropping"):
            # After a failed Execute the server would skip to the Sync, and so do we.
            if frame.kind != "S":
                return False
            session.extra["dropping"] = False
            if sequencer:
                error = error_message(self.attributes.sqlstate, self.attributes.message)
                sequencer.expect(Pending(Slot.FAIL, lambda: error))
            return True
        session.extra["group_open"] = frame.kind not in EXPECTS_READY
        if sequencer is not None:
            if frame.kind in EXPECTS_READY:
                sequencer.expect_reply()
            elif frame.kind in ("ssl", "gssenc"):
                assert isinstance(sequencer.parser, BackendParser)
                sequencer.parser.answer_due = True
        return True

    def refuse(self, frame: Frame, session: Session) -> None:
        if frame.kind == "E":
            session.extra["dropping"] = True
            return
        sequencer = session.sequencer
        if isinstance(sequencer, ReadySequencer):
            attrs = self.attributes
            sequencer.expect(
                Pending(
                    Slot.ANSWER,
                    lambda: (
                        error_message(attrs.sqlstate, attrs.message)
                        + message("Z", sequencer.failed_status())
                    ),
                )
            )

    def cut(self, frame: Frame, session: Session, out: bytearray) -> None:
        session.cut = True
        if session.sequencer:
            session.sequencer.expect(Pending(Slot.CUT_NOW))
