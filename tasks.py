"""invoke entry point: run ``invoke --list`` to see every task."""

from chaoslib.cli import namespace as ns  # noqa: F401
