"""chaoslib's on-disk state: the ``.chaos`` directory (which one: :func:`locate_home`),
atomic JSON files, a lock, and the marker that says a directory is chaoslib's own to delete.

State lives on disk rather than in memory because the process that starts
something (``invoke stack.up``) is rarely the one that must clean it up. The
files can be edited or damaged, so nothing read back from them is trusted to
name what may be deleted: only a directory that carries chaoslib's marker,
written when chaoslib created it, and that lies where chaoslib creates them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.errors import ConfigError, StackError

MARKER = ".chaoslib-created"
HOME_NAME = ".chaos"
# Kernel filesystems: a directory there exists, but no state file can be made in it.
_PSEUDO = (Path("/proc"), Path("/sys"), Path("/dev"))
_PSEUDO_OK = (Path("/dev/shm"),)


class ChaosHomeError(ConfigError):
    """``CHAOS_HOME`` (or an explicit home) cannot hold chaoslib's state files."""


class StateFileError(StackError):
    """A state file is readable but not what chaoslib wrote; it is left as it is."""


@dataclass(frozen=True)
class Home:
    """Where chaoslib keeps its state, and how that directory was chosen (for messages)."""

    path: Path
    how: str  # e.g. "from CHAOS_HOME", "the nearest .chaos above /work/app/src"

    def __str__(self) -> str:
        return f"{self.path} ({self.how})"


def locate_home(explicit: str | Path | None = None, cwd: Path | None = None) -> Home:
    """``explicit``, else ``$CHAOS_HOME``, else the nearest ``.chaos`` directory in ``cwd``
    or above it, else ``cwd/.chaos``. Not checked: :func:`chaos_home` checks it.

    Searching upwards is what lets ``pytest`` in a project's ``tests/`` find the stack that
    ``chaos stack.up`` started at the project's root, as git finds ``.git``."""
    if explicit:
        return Home(Path(explicit).resolve(), "the directory given")
    if os.environ.get("CHAOS_HOME"):
        return Home(Path(os.environ["CHAOS_HOME"]).resolve(), "from CHAOS_HOME")
    here = (cwd or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / HOME_NAME).is_dir():
            where = "in" if directory == here else "above"
            return Home(directory / HOME_NAME, f"the nearest {HOME_NAME} {where} {here}")
    return Home(
        here / HOME_NAME, f"CHAOS_HOME is unset and no {HOME_NAME} is in {here} or above it"
    )


def chaos_home(explicit: str | Path | None = None) -> Path:
    """:func:`locate_home`'s directory; rejected if it cannot hold files."""
    home = locate_home(explicit)
    if explicit:
        setting = f"the chaos home {explicit}"
    elif home.how == "from CHAOS_HOME":
        setting = f"CHAOS_HOME={os.environ['CHAOS_HOME']}"
    else:
        setting = f"the chaos home {home.path}"
    problem = _home_problem(home.path)
    if problem:
        raise ChaosHomeError(
            f"{setting} cannot be used: {problem}. Set CHAOS_HOME to a directory chaoslib "
            f"may create files in (it is created if missing), or unset it to use the nearest "
            f"{HOME_NAME} (found from the current directory upwards, else ./{HOME_NAME})."
        )
    return home.path


def _home_problem(home: Path) -> str | None:
    if any(home.is_relative_to(p) for p in _PSEUDO) and not any(
        home.is_relative_to(p) for p in _PSEUDO_OK
    ):
        return f"{home} is on a kernel filesystem, where no file can be created"
    existing = home
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is" if existing == home else f"would be inside {existing}, which is"
        return f"{home} {what} not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by this user"
    return None


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
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(
            f"{path} cannot be read ({exc}). Remove it if no chaoslib run is active."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(
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


# -- directories chaoslib created -------------------------------------------------------
def mark_created(directory: Path) -> None:
    """Say that chaoslib made ``directory`` and may delete it: the marker names the path
    itself, so a marker copied into another directory (or reached by a symlink) does not count."""
    (directory / MARKER).write_text(
        json.dumps({"created_by": "chaoslib", "path": str(directory.resolve())}) + "\n"
    )


def is_marked(directory: Path) -> bool:
    try:
        if directory.is_symlink() or not directory.is_dir():
            return False
        data = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("path") == str(directory.resolve())


def remove_created(directory: Path, within: tuple[Path, ...]) -> str | None:
    """Delete ``directory`` if chaoslib created it (marked) under one of ``within``;
    otherwise leave it and return why, in words a user can act on."""
    if not directory.exists():
        return None
    resolved = directory.resolve()
    roots = [root.resolve() for root in within]
    if not any(resolved != root and resolved.is_relative_to(root) for root in roots):
        return (
            f"left {directory} alone: it is not under {' or '.join(map(str, roots))}, "
            "where chaoslib creates its data directories"
        )
    if not is_marked(directory):
        return (
            f"left {directory} alone: it has no {MARKER} marker naming it, so chaoslib did "
            "not create it (delete it by hand if it is no longer needed)"
        )
    shutil.rmtree(directory, ignore_errors=True)
    return None
