"""The Service protocol: what every backend (local process, docker container) offers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from chaoslib.services.process import ProcessHandle, ProcessSpec


@runtime_checkable
class Service(Protocol):
    """Something that can be started, stopped, killed, paused and restarted, and has a log."""

    name: str

    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop; idempotent."""

    def kill(self) -> None:
        """SIGKILL; idempotent."""

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing."""

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""

    def restart(self, down_for: float = 0.0) -> None: ...

    def is_running(self) -> bool: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def address(self) -> tuple[str, int]: ...

    @property
    def url(self) -> str: ...

    @property
    def log_path(self) -> str: ...


@dataclass(frozen=True)
class ServiceRecord:
    """A started local service as written to ``.chaos/stack.json``."""

    name: str
    kind: str
    host: str
    port: int
    url: str
    spec: ProcessSpec
    handle: ProcessHandle | None
    run_dir: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"]["argv"] = list(self.spec.argv)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceRecord:
        spec = dict(data["spec"])
        spec["argv"] = tuple(spec["argv"])
        handle = data.get("handle")
        return cls(
            name=data["name"],
            kind=data["kind"],
            host=data["host"],
            port=int(data["port"]),
            url=data["url"],
            spec=ProcessSpec(**spec),
            handle=ProcessHandle(**handle) if handle else None,
            run_dir=data["run_dir"],
            extra=dict(data.get("extra", {})),
        )
