"""How report files are written: atomically, readable like any file the user creates, ISO times.

No imports from the rest of chaoslib, so the journal itself can use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path


def write_text(path: Path, text: str) -> Path:
    """Replace ``path`` atomically (a crash never leaves half a report).

    The temporary file is opened with mode 0666 and the umask applied, as a plain
    ``open()`` would: ``mkstemp`` makes it 0600, and reports are read by other people
    and by CI servers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def iso_time(wall: float | None) -> str | None:
    """Epoch seconds as ISO-8601 in UTC with its offset: ``2026-12-01T19:09:03.120+00:00``."""
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")
