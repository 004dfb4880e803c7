"""redis_command: delay, refuse or cut Redis commands by name and key (an extension).

    {"type": "redis_command", "attributes": {"commands": ["PUBLISH", "XADD"],
     "action": "error", "error": "READONLY You can't write against a read only replica."}}

``action``: ``delay`` holds a matching command ``delay_ms`` before forwarding
it; ``error`` answers it with ``-<error>`` and never forwards it; ``close``
forwards it, drops its reply and closes the connection (the write may have
happened, and the client cannot know). ``key_pattern`` (a regex) narrows the
match to commands whose first key matches; ``count`` stops after that many
matches (0: no limit). Replies stay in pipeline order. Once a connection
subscribes (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, MONITOR), replies no longer
follow commands one to one, so the toxic leaves that connection alone.
"""

from __future__ import annotations

import re
from typing import Any

from chaoslib.proxy.toxics.base import ConnectionContext
from chaoslib.proxy.toxics.protocol import ProtocolToxic, Session
from chaoslib.proxy.toxics.sequencer import Pending, Sequencer, Slot
from chaoslib.proxy.wire.resp import Frame, RespParser, error_reply

PUSH_MODE = frozenset({b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE", b"MONITOR"})
PUSH = ord(">")


class ReplySequencer(Sequencer):
    def is_unit_end(self, frame: Frame) -> bool:
        return not frame.opaque and frame.raw[0] != PUSH  # RESP3 pushes answer no command


class RedisCommand(ProtocolToxic):
    type_name = "redis_command"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled: tuple[Any, ...] = ()

    def _rules(self) -> tuple[frozenset[bytes], re.Pattern[bytes] | None, tuple[bytes, ...]]:
        attrs = self.attributes
        if not self._compiled or self._compiled[0] is not attrs:
            names = frozenset(name.upper().encode() for name in attrs.commands)
            key = re.compile(attrs.key_pattern.encode(), re.S) if attrs.key_pattern else None
            # Any of the names, or a command that changes how replies follow commands.
            # (Searched in the upper-cased chunk: a regex with re.I is 6 times slower.)
            seen = tuple(names | PUSH_MODE)
            self._compiled = (attrs, names, key, seen)
        return self._compiled[1], self._compiled[2], self._compiled[3]

    def quick(self, data: bytes, session: Session) -> bool:
        names, _, seen = self._rules()
        # A name can only match where its bytes appear.
        if not names or session.extra.get("push_mode"):
            return False
        upper = data.upper()
        return not any(name in upper for name in seen)

    def joined_late(self, session: Session) -> None:
        assert isinstance(session.requests, RespParser)
        session.requests.unsynced = True

    def new_parser(self) -> RespParser:
        return RespParser(commands=True)

    def new_sequencer(self, ctx: ConnectionContext, session: Session) -> Sequencer:
        return ReplySequencer(ctx, RespParser(commands=False))

    def match(self, frame: Frame, session: Session) -> bool | None:
        if not frame.args or session.extra.get("push_mode"):
            return None
        command = frame.args[0].upper()
        if command in PUSH_MODE:
            session.extra["push_mode"] = True
            return None
        names, key, _ = self._rules()
        if names and command not in names:
            return False
        return not (key is not None and (frame.key is None or not key.search(frame.key)))

    def forward(self, frame: Frame, session: Session) -> bool:
        if frame.args and not session.extra.get("push_mode") and session.sequencer:
            session.sequencer.expect_reply()
        return True

    def refuse(self, frame: Frame, session: Session) -> None:
        reply = error_reply(self.attributes.error)
        if session.sequencer:
            session.sequencer.expect(Pending(Slot.ANSWER, lambda: reply))

    def cut(self, frame: Frame, session: Session, out: bytearray) -> None:
        out += frame.raw
        session.cut = True
        if session.sequencer:
            session.sequencer.expect(Pending(Slot.CUT_AFTER))
