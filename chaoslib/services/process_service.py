"""Any local program as a Service: the reference system's orchestrator, shards and consumers.

Unlike a server with a port, readiness is "the process is still alive after
``settle`` seconds", or, with ``ready_pattern``, "its log shows that line".
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chaoslib.errors import ServiceError
from chaoslib.services.managed import log_tail
from chaoslib.services.process import LocalProcess, ProcessSpec
from chaoslib.wait import WaitTimeout, wait_until


class ProcessService:
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
        ready_pattern: str | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.spec = ProcessSpec(
            argv=tuple(argv),
            log_path=str(log_path),
            env=dict(env or {}),
            cwd=str(cwd) if cwd else None,
        )
        self.owned = owned
        self.ready = (
            re.compile(ready_pattern, re.MULTILINE) if ready_pattern else None
        )  # ^ and $ per log line
        self.start_timeout = start_timeout
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
        Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        offset = Path(self.log_path).stat().st_size if Path(self.log_path).exists() else 0
        self._proc = LocalProcess(self.spec)
        self._proc.start(owned=self.owned)
        if self.ready is None:
            return
        try:
            wait_until(
                lambda: self._ready_since(offset),
                timeout=self.start_timeout,
                interval=0.05,
                what=f"{self.name} to log /{self.ready.pattern}/",
            )
        except WaitTimeout:
            self._proc.kill()
            raise ServiceError(
                f"{self.name} did not become ready within {self.start_timeout:g}s",
                log_tail=log_tail(self.log_path),
                log_path=self.log_path,
            ) from None

    def _ready_since(self, offset: int) -> bool:
        if not self.is_running():
            raise ServiceError(
                f"{self.name} exited during start-up (exit code {self._proc.exit_code()})",
                log_tail=log_tail(self.log_path),
                log_path=self.log_path,
            )
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            return bool(self.ready.search(fh.read().decode("utf-8", "replace")))  # type: ignore[union-attr]

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
