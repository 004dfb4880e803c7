"""Any local program as a Service: the reference system's orchestrator, shards and consumers.

Readiness (see :mod:`chaoslib.services.readiness`) is a log line, a TCP port that accepts,
a heartbeat the caller hears, or nothing (alive after start). Whatever it waits for, the
process must stay alive meanwhile: an exit during start-up is reported with its exit code
and the last lines of its log, never as a timeout.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chaoslib.errors import ServiceError
from chaoslib.services.managed import log_tail
from chaoslib.services.process import LocalProcess, ProcessSpec
from chaoslib.services.readiness import ReadyDef, as_ready, probe, tcp_accepts
from chaoslib.wait import WaitTimeout, wait_until


class ProcessService:
    """``ready`` is a :class:`ReadyDef`, or a string: a log regex (``ready_pattern`` is
    its older name). ``start_timeout``, when given, overrides the readiness's own timeout.

    ``heartbeat_seen`` is required for ``ReadyDef(kind="heartbeat")``: a callable, polled
    after each start, that says whether this service's heartbeat has been heard *since
    that start* (compare heartbeat times with :attr:`started_at`, wall-clock seconds set
    just before the process is spawned), so that an earlier run's heartbeat never counts.
    """

    kind = "process"

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: str | Path,
        *,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        owned: bool = True,
        ready: str | ReadyDef | None = None,
        ready_pattern: str | ReadyDef | None = None,
        start_timeout: float | None = None,
        heartbeat_seen: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self.spec = ProcessSpec(
            argv=tuple(argv),
            log_path=str(log_path),
            env=dict(env or {}),
            cwd=str(cwd) if cwd else None,
        )
        self.owned = owned
        self.readiness = as_ready(ready if ready is not None else ready_pattern, start_timeout)
        self.heartbeat_seen = heartbeat_seen
        if self.readiness is not None:  # a heartbeat without a listener: refused now, not at start
            probe(self.readiness, self.spec.log_path, 0, heartbeat_seen)
        self.started_at: float | None = None
        self._proc: LocalProcess | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.is_running() else None

    @property
    def address(self) -> tuple[str, int]:
        return ("", 0)

    @property
    def url(self) -> str:
        return ""

    @property
    def log_path(self) -> str:
        return self.spec.log_path

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.is_running()

    def is_paused(self) -> bool:
        return self._proc is not None and self._proc.is_paused()

    def start(self) -> None:
        if self.is_running():
            return
        ready = self.readiness
        if ready is not None and ready.kind == "tcp" and tcp_accepts(ready.host, ready.port):
            # Something else answers there: the port could not tell when this one is ready.
            raise ServiceError(
                f"{self.name} was not started: {ready.host}:{ready.port}, its ready: tcp "
                "address, already accepts connections from another program; stop that "
                "program or give this service another port"
            )
        Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        offset = Path(self.log_path).stat().st_size if Path(self.log_path).exists() else 0
        self.started_at = time.time()
        self._proc = LocalProcess(self.spec)
        self._proc.start(owned=self.owned)
        if ready is None or ready.kind == "none":
            self._alive()
            return
        condition = probe(ready, self.log_path, offset, self.heartbeat_seen)
        try:
            wait_until(
                lambda: self._alive() and condition(),
                timeout=ready.timeout,
                interval=0.05,
                what=f"{self.name} to be ready ({ready.describe()})",
            )
        except WaitTimeout:
            self._proc.kill()
            raise ServiceError(
                f"{self.name} did not become ready within {ready.timeout:g}s: "
                f"it waited for {ready.describe()}",
                log_tail=log_tail(self.log_path),
                log_path=self.log_path,
            ) from None

    def _alive(self) -> bool:
        """True, or a ServiceError if the process has exited (it cannot become ready)."""
        if not self.is_running():
            code = self._proc.exit_code() if self._proc is not None else None
            if self._proc is not None:
                self._proc.kill()  # reaps whatever it left in its process group
            raise ServiceError(
                f"{self.name} exited during start-up (exit code {code})",
                log_tail=log_tail(self.log_path),
                log_path=self.log_path,
            )
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc is not None:
            self._proc.stop(timeout)

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()

    def pause(self) -> None:
        if self._proc is None or not self._proc.signal_group(signal.SIGSTOP):
            raise ServiceError(f"{self.name} is not running; cannot pause it")
        wait_until(self.is_paused, timeout=5.0, what=f"{self.name} to stop running")

    def resume(self) -> None:
        if self._proc is not None and self._proc.signal_group(signal.SIGCONT):
            wait_until(lambda: not self.is_paused(), timeout=5.0, what=f"{self.name} to resume")

    def restart(self, down_for: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.stop()
        if down_for > 0:
            sleep(down_for)
        self.start()

    def __enter__(self) -> ProcessService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
