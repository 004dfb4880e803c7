"""Terminal output shared by the tasks (rich), kept out of the library itself."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

from invoke.exceptions import Exit
from rich.console import Console

from chaoslib.errors import ChaosError, ConfigError
from chaoslib.log import configure_logging

# Piped output (CI logs, `| tee`) is not cut to 80 columns: URLs must stay whole.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def setup(verbose: int) -> None:
    try:
        configure_logging(verbose)
    except ChaosError as exc:
        raise Exit(f"chaoslib: {exc}", code=2) from None


def print_json(data: Any) -> None:
    try:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` closed the pipe; nothing left to say
        sys.stderr.close()


def fail(exc: ChaosError, code: int = 1) -> Exit:
    """Turn a library error into invoke's clean exit: message, no traceback."""
    return Exit(f"chaoslib: {exc}", code=code)


def exit_code(exc: ChaosError) -> int:
    """2 for bad input (a flag, a file, a profile: a ConfigError), 1 for a runtime failure."""
    return 2 if isinstance(exc, ConfigError) else 1


def failed(exc: ChaosError) -> Exit:
    """:func:`fail` with the exit code the error's kind calls for (:func:`exit_code`)."""
    return fail(exc, exit_code(exc))


# A run a signal ended exits as a shell reports a process that signal killed: 128 + its number.
SIGNAL_CODES = {sig.name: 128 + int(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


def signal_exit_code(reason: BaseException | str | None) -> int:
    """130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP, from the exception or the reason a
    journal recorded for it (``terminated by SIGTERM``, see chaoslib.faults.signals)."""
    signum = getattr(reason, "signum", None)
    if signum is not None:
        return 128 + int(signum)
    text = str(reason or "")
    return next((code for name, code in SIGNAL_CODES.items() if name in text), 130)


def interrupted(reason: BaseException | str | None, what: str) -> Exit:
    """The clean exit of a run a signal ended: ``interrupted: <what>``, 130 or 143 (or 129)."""
    return Exit(f"interrupted: {what}", code=signal_exit_code(reason))


def program_name() -> str:
    """``chaos`` when the installed program runs the task, else ``invoke`` (a tasks.py)."""
    return "chaos" if Path(sys.argv[0]).name == "chaos" else "invoke"


def as_typed(name: str) -> str:
    """The task's name as the user typed it: ``chaos.run`` through a tasks.py, ``run``
    through the ``chaos`` program. A hint must name what the user can type back."""
    return next((a for a in sys.argv[1:] if a == name or a.endswith(f".{name}")), name)


def positional(value: str, task: str, what: str) -> str:
    """invoke hands ``run --help`` to the task as its file: say where the help is.
    ``task`` is the bare name (``run``); the hint names it as the user typed it."""
    if value.startswith("-"):
        typed, program = as_typed(task), program_name()
        raise Exit(
            f"chaoslib: {program} {typed} takes {what} first, not {value!r}. "
            f"Help: {program} --help {typed}",
            code=0 if value in ("-h", "--help") else 2,
        )
    return value
