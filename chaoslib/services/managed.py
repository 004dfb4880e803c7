"""A local server process with a readiness probe: the shared half of Redis and PostgreSQL."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import port_for
from loguru import logger

from chaoslib.errors import PortInUseError, ServiceError
from chaoslib.services.base import ServiceRecord
from chaoslib.services.process import LocalProcess, ProcessSpec
from chaoslib.wait import WaitTimeout, wait_until

_PORT_ATTEMPTS = 3


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers bind with SO_REUSEADDR, so sockets in TIME_WAIT from the
        # previous run of the same server must not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_free_port() -> int:
    return int(port_for.select_random())


def log_tail(path: str | Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ManagedServer:
    """Start/stop/kill/pause/resume/restart for one server, plus a real readiness probe.

    Subclasses say how to prepare the data directory, which argv to run, and
    how to probe readiness with a real client. Everything else is here.
    """

    kind: ClassVar[str] = "process"
    program: ClassVar[str] = "server"

    def __init__(
        self,
        name: str,
        run_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        owned: bool = True,
        start_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.run_dir = Path(run_dir).resolve()
        self.host = host
        self._fixed_port = port is not None
        self.port = port if port is not None else pick_free_port()
        self.owned = owned
        self.start_timeout = start_timeout
        self.extra: dict[str, Any] = {}
        self._proc: LocalProcess | None = None
        # Called once a new process is spawned: a stack loaded from its state file records
        # the new pid, so a server a heal restarts is still the stack's (and stack.down's).
        self.on_start: Callable[[], None] | None = None

    # -- for subclasses -------------------------------------------------------
    def prepare(self) -> None:
        """Create what the server needs on disk before its first start."""

    def build_spec(self) -> ProcessSpec:
        raise NotImplementedError

    def probe(self) -> bool:
        """One real request (PING, SELECT 1); True when the server answers."""
        raise NotImplementedError

    def after_ready(self) -> None:
        """One-time setup once the server answers (create a database, …)."""

    @property
    def url(self) -> str:
        raise NotImplementedError

    def url_at(self, port: int) -> str:
        """This service's URL as a client reaching it on ``port`` (a proxy's) would use it."""
        raise NotImplementedError

    # -- the Service protocol -------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def log_path(self) -> str:
        return str(self.run_dir / f"{self.name}.log")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self.is_running() else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.is_running()

    def is_paused(self) -> bool:
        return self._proc is not None and self._proc.is_paused()

    def start(self, on_spawn: Callable[[], None] | None = None) -> None:
        """Start and wait until a real client gets an answer. No-op if running."""
        if self.is_running():
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            if not port_is_free(self.host, self.port):
                if self._fixed_port:
                    raise PortInUseError(self.name, self.host, self.port)
                self.port = pick_free_port()
                continue
            self._proc = LocalProcess(self.build_spec())
            offset = self._log_size()
            self._proc.start(owned=self.owned)
            logger.info(
                "{} starting: pid {} on {}:{}", self.name, self._proc.pid, self.host, self.port
            )
            if on_spawn:
                on_spawn()
            if self.on_start:
                self.on_start()
            try:
                self._wait_ready()
                break
            except ServiceError:
                lost_race = "in use" in self._log_since(offset).lower()
                if not lost_race or self._fixed_port or attempt == _PORT_ATTEMPTS:
                    raise
                logger.info("{}: port {} was taken meanwhile; trying another", self.name, self.port)
                self.port = pick_free_port()
        self.after_ready()
        logger.info("{} ready at {}", self.name, self.url)

    def _log_size(self) -> int:
        try:
            return Path(self.log_path).stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        assert self._proc is not None
        proc = self._proc

        def ready() -> bool:
            if not proc.is_running():
                code = proc.exit_code()
                raise self._failure(f"{self.program} exited during start-up (exit code {code})")
            return self.probe()

        try:
            wait_until(
                ready, timeout=self.start_timeout, interval=0.05, what=f"{self.name} to answer"
            )
        except WaitTimeout:
            proc.kill()
            raise self._failure(
                f"{self.program} did not answer within {self.start_timeout:g}s "
                f"on {self.host}:{self.port}"
            ) from None
        except ServiceError:
            proc.kill()
            raise

    def _failure(self, message: str) -> ServiceError:
        argv = " ".join(self._proc.spec.argv) if self._proc else "?"
        return ServiceError(
            f"{self.name}: {message}.\nCommand: {argv}",
            log_tail=log_tail(self.log_path),
            log_path=self.log_path,
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc is not None:
            was_running = self._proc.is_running()
            self._proc.stop(timeout)
            if was_running:
                logger.info("{} stopped", self.name)

    def kill(self) -> None:
        if self._proc is not None:
            was_running = self._proc.is_running()
            self._proc.kill()
            if was_running:
                logger.info("{} killed", self.name)

    def pause(self) -> None:
        if self._proc is None or not self._proc.signal_group(signal.SIGSTOP):
            raise ServiceError(f"{self.name} is not running; cannot pause it")
        wait_until(self.is_paused, timeout=5.0, what=f"{self.name} to stop running")
        logger.info("{} paused", self.name)

    def resume(self) -> None:
        if self._proc is not None and self._proc.signal_group(signal.SIGCONT):
            wait_until(lambda: not self.is_paused(), timeout=5.0, what=f"{self.name} to resume")
            logger.info("{} resumed", self.name)

    def restart(self, down_for: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> None:
        """Stop, stay down for ``down_for`` seconds (the fault itself), start on the same port."""
        self.stop()
        if down_for > 0:
            sleep(down_for)
        self._fixed_port = True  # clients expect it back where it was
        self.start()

    # -- persistence in the state file ---------------------------------------
    def record(self) -> ServiceRecord:
        spec = self._proc.spec if self._proc else self.build_spec()
        return ServiceRecord(
            name=self.name,
            kind=self.kind,
            host=self.host,
            port=self.port,
            url=self.url,
            spec=spec,
            handle=self._proc.handle if self._proc else None,
            run_dir=str(self.run_dir),
            extra=dict(self.extra),
        )

    def adopt(self, record: ServiceRecord) -> None:
        """Take over a process started elsewhere (by another chaoslib process)."""
        self.port = record.port
        self._fixed_port = True
        self.extra.update(record.extra)
        self._proc = LocalProcess(record.spec, record.handle)

    def __enter__(self) -> ManagedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
