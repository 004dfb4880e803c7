"""chaoslib: network chaos for services built on Redis and PostgreSQL."""

from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path

from loguru import logger as _logger

# Files that only chaostoolkit-lib puts in its top-level ``chaoslib`` package (this one has
# none of them). Two must be there: one file of that name could be a coincidence.
CHAOSTOOLKIT_MARKERS = (
    "activity.py",
    "hypothesis.py",
    "rollback.py",
    "secret.py",
    "caching.py",
    "control/__init__.py",
    "provider/process.py",
)


def chaostoolkit_files(package_dir: Path) -> list[str]:
    """The chaostoolkit-lib marker files in ``package_dir``; fewer than two count as none."""
    found = [name for name in CHAOSTOOLKIT_MARKERS if (package_dir / name).is_file()]
    return found if len(found) >= 2 else []


def check_package_dir(package_dir: Path) -> None:
    """Refuse a package directory that chaostoolkit-lib shares: both projects install a
    top-level ``chaoslib``, and pip lets the second overwrite the first's files silently."""
    found = chaostoolkit_files(package_dir)
    if not found:
        return
    from chaoslib.errors import ChaosError

    raise ChaosError(
        f"{package_dir} holds chaostoolkit-lib's files ({', '.join(found)}) next to this "
        "chaoslib's: both install a top-level package named chaoslib, so one overwrote the "
        "other's files and neither can be trusted. Fix: install them in separate virtual "
        "environments (python -m venv), or keep one: pip uninstall chaostoolkit-lib && "
        "pip install --force-reinstall chaoslib (network chaos), or pip uninstall chaoslib "
        "&& pip install --force-reinstall chaostoolkit-lib (Chaos Toolkit)."
    )


check_package_dir(Path(__file__).resolve().parent)

# A library stays quiet until its user asks for logs (chaoslib.log.configure_logging).
_logger.disable("chaoslib")
