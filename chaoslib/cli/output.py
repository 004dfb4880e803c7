"""Terminal output shared by the tasks (rich), kept out of the library itself."""

from __future__ import annotations

import json
import sys
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


def positional(value: str, task: str, what: str) -> str:
    """invoke hands ``chaos.run --help`` to the task as its file: say where the help is."""
    if value.startswith("-"):
        raise Exit(
            f"chaoslib: invoke {task} takes {what} first, not {value!r}. "
            f"Help: invoke --help {task}",
            code=0 if value in ("-h", "--help") else 2,
        )
    return value
