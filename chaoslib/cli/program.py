"""The installed ``chaos`` command: chaoslib's tasks without a checkout or a ``tasks.py``.

``chaos db-slow …``, ``chaos suite …`` and ``chaos stack.up`` are the checkout's
``invoke chaos.db-slow …``, ``invoke chaos.suite …`` and ``invoke stack.up``: the same
task objects, with the ``chaos.*`` tasks at the root and every other collection
(``stack.*``) beneath it.

A project's own ``tasks.py`` mounts the same tree with one line::

    from invoke import Collection, task
    from chaoslib.cli.program import root_namespace

    @task
    def build(c): ...

    ns = Collection(build)
    ns.add_collection(root_namespace(), "chaos")  # invoke chaos.db-slow, invoke chaos.stack.up
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from importlib import metadata

from invoke import Collection, Exit, ParseError, Program

from chaoslib.cli.conventions import usage_message

# What a usage error and a Ctrl-C exit with, as every chaoslib task does (invoke's own
# Program exits 1 for both, the same code as a failed check).
USAGE = 2
INTERRUPTED = 130


def root_namespace() -> Collection:
    """The ``chaos.*`` tasks at the root, every other collection beneath it.

    Read when called, not at import: tasks registered into ``chaos_tasks.collection``
    after this module was imported are included."""
    from chaoslib import cli  # its import registers every task into the collections
    from chaoslib.cli import chaos_tasks, stack_tasks

    whole = getattr(cli, "namespace", None)
    subs = dict(whole.collections) if isinstance(whole, Collection) else {}
    chaos = subs.pop("chaos", chaos_tasks.collection)
    subs.setdefault("stack", stack_tasks.collection)
    root = Collection()
    root.configure(chaos.configuration())
    for name, task in chaos.tasks.items():  # primary names only: aliases come with the task
        root.add_task(task, name=name, default=name == chaos.default)
    for name, sub in (*chaos.collections.items(), *subs.items()):
        root.add_collection(sub, name=name)
    return root


def version() -> str:
    """The installed distribution's version (the wheel's), else the package's own."""
    try:
        return metadata.version("chaoslib")
    except metadata.PackageNotFoundError:
        from chaoslib import __version__

        return __version__


@contextlib.contextmanager
def _usage() -> Iterator[None]:
    try:
        yield
    except ParseError as exc:  # an unknown flag or task, a missing value
        raise Exit(usage_message(exc), code=USAGE) from None


class ChaosProgram(Program):
    """invoke's Program, with chaoslib's exit codes for usage errors and Ctrl-C."""

    def parse_core(self, argv: list[str] | None) -> None:
        with _usage():
            super().parse_core(argv)

    def parse_collection(self) -> None:
        with _usage():
            super().parse_collection()

    def parse_tasks(self) -> None:
        with _usage():
            super().parse_tasks()

    def execute(self) -> None:
        try:
            super().execute()
        except KeyboardInterrupt:  # a task that let it through: still the shell's 130
            raise Exit(code=INTERRUPTED) from None


def program() -> ChaosProgram:
    return ChaosProgram(version=version(), namespace=root_namespace(), name="chaos", binary="chaos")


def main(argv: list[str] | None = None) -> None:
    """The ``chaos`` console script."""
    try:
        program().run(sys.argv if argv is None else ["chaos", *argv])
    except BrokenPipeError:  # `chaos --list | head`: the reader left; nothing more to say
        # Python flushes stdout again at exit; point it at devnull so that flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
