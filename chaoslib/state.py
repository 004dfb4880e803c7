"""chaoslib's on-disk state: the ``.chaos`` directory, atomic JSON files and a lock.

State lives on disk rather than in memory because the process that starts
something (``invoke stack.up``) is rarely the one that must clean it up.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chaoslib.errors import StackError


def chaos_home(explicit: str | Path | None = None) -> Path:
    """``explicit``, else ``$CHAOS_HOME``, else ``./.chaos``."""
    if explicit:
        return Path(explicit).resolve()
    env = os.environ.get("CHAOS_HOME")
    return Path(env).resolve() if env else (Path.cwd() / ".chaos").resolve()


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StackError(
            f"{path} is not valid JSON ({exc}). Remove it if no chaoslib run is active."
        ) from exc


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so two ``stack.up`` calls cannot race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
