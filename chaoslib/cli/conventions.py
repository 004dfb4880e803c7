"""One meaning per short flag, across every task, and help that says what the parser takes.

invoke gives each task's flags short forms by itself, letter by letter in declaration
order, so ``-f``, ``-o`` and ``-c`` each meant ``--force`` in one task or another and
``-p`` meant profile, pattern or period. :func:`apply_conventions` turns that off and
gives each task exactly the short flags of :data:`SHORT_FLAGS` for the long flags it has;
a flag not in the table has no short form.

invoke also shows a counted flag as ``--verbose=INT``, which its parser then refuses
(``--verbose=2``: "No idea what '2' is!"); a counted flag here is shown as ``-v, --verbose``
and its help says to repeat it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from invoke import Collection, ParseError, Task

# short letter -> long flag. -h is invoke's help, after a task name too: never a task's.
SHORT_FLAGS: dict[str, str] = {
    "v": "verbose",
    "d": "duration",
    "p": "profile",
    "f": "force",
    "l": "link",
    "s": "service",
    "j": "json",
    "n": "dry-run",
}
SHORT_FOR: dict[str, str] = {long: short for short, long in SHORT_FLAGS.items()}
assert len(SHORT_FOR) == len(SHORT_FLAGS), "a long flag with two short forms"
assert "h" not in SHORT_FLAGS, "-h is the help"


class Count(int):
    """The kind of a counted flag (``-vv``): an int, but not ``int`` itself, so invoke's
    help shows it as a switch (``-v, --verbose``) rather than as taking an ``INT``."""


class _Conventional(Task):
    """Mixed in front of a task's own class by :func:`apply_conventions`."""

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        if not opts.get("positional"):
            long = opts["names"][0]
            opts["names"] = [long, SHORT_FOR[long]] if long in SHORT_FOR else [long]
        if opts.get("incrementable"):
            opts["kind"] = Count
            opts["default"] = Count(default or 0)
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Any]:
        # invoke pops each flag's help as it reads it: a second read (the help after a
        # listing, a test walking the tasks) would find none left.
        kept = dict(self.help)
        try:
            return super().get_arguments(ignore_unknown_help)
        finally:
            self.help = kept


_CLASSES: dict[type, type] = {}
_A_NUMBER = re.compile(r"No idea what '[0-9]+' is!")


def _conventional(cls: type) -> type:
    if issubclass(cls, _Conventional):
        return cls
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Conventional{cls.__name__}", (_Conventional, cls), {})
    return _CLASSES[cls]


def tasks(collection: Collection) -> Iterator[tuple[str, Task]]:
    """Every task of ``collection`` and of the collections beneath it, with its full name."""
    for name, sub in collection.collections.items():
        for inner, found in tasks(sub):
            yield f"{name}.{inner}", found
    for name, found in collection.tasks.items():
        yield name, found


def apply_conventions(collection: Collection) -> Collection:
    """Give every task in ``collection`` (and beneath) the table's short flags, and only those.

    Call it once every task is registered. The task objects change in place, so every
    collection holding one (``invoke chaos.*``, the ``chaos`` program's root) sees the same
    flags. Calling it again is harmless.
    """
    for _, found in tasks(collection):
        found.__class__ = _conventional(type(found))
        found.auto_shortflags = False
    return collection


def flag_map(collection: Collection) -> dict[str, dict[str, set[str]]]:
    """short flag -> long flag -> the tasks where it means that (for checks and tests)."""
    found: dict[str, dict[str, set[str]]] = {}
    for name, one in tasks(collection):
        for arg in one.get_arguments():
            longs = [n for n in arg.names if len(n) > 1]
            for short in (n for n in arg.names if len(n) == 1):
                for long in longs:
                    found.setdefault(short, {}).setdefault(long, set()).add(name)
    return found


def usage_message(exc: ParseError) -> str:
    """A parser error as a usage message that names the flag and what it accepts.

    Missing positional arguments are said the way a missing required flag is
    (``--file is required: …``); a value given to a counted flag says to repeat it.
    """
    context = exc.context
    text = str(exc)
    missing = list(getattr(context, "missing_positional_args", None) or [])
    if "did not receive required positional arguments" in text and missing:
        return "; ".join(
            f"--{arg.name} is required: {(arg.help or 'see the task help').rstrip('.')}"
            for arg in missing
        )
    if _A_NUMBER.fullmatch(text) and context is not None:
        counted = [a for a in context.flags.values() if a.incrementable]
        if counted:
            arg = counted[0]
            return (
                f"{text} --{arg.name} takes no value: repeat the flag instead, "
                f"-{SHORT_FOR.get(arg.name, arg.name)} for INFO, "
                f"-{SHORT_FOR.get(arg.name, arg.name) * 2} for DEBUG"
            )
    return text
