"""Reading ``.chaos/stack.json`` back without trusting it: every field is checked, so a
damaged or edited file gives one message naming what is wrong, never a traceback; then
each record becomes the server object that adopts the process it names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.services.base import ServiceRecord
from chaoslib.services.binaries import Binary
from chaoslib.services.managed import ManagedServer
from chaoslib.services.postgres import PostgresServer
from chaoslib.services.proxy_server import ToxiproxyServer
from chaoslib.services.redis import RedisServer
from chaoslib.state import StateFileError

STATE_VERSION = 1
KINDS = ("redis", "postgres", "toxiproxy")
_NONE = type(None)


@dataclass(frozen=True)
class StackState:
    run_dir: Path
    records: dict[str, ServiceRecord]
    links: dict[str, int]


def damaged(path: Path, what: str) -> StateFileError:
    return StateFileError(
        f"{path} is damaged: {what}. chaoslib will not guess which processes and directories "
        "are its own, so it changed nothing. If no stack is running, delete the file "
        "(stack.up then starts a new one); otherwise stop its servers by hand first "
        "(ps -ef | grep -e redis-server -e postgres -e chaoslib.proxy), then delete it."
    )


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def field(self, obj: dict[str, Any], key: str, types: tuple[type, ...], where: str,
              *, optional: bool = False) -> Any:  # fmt: skip
        if key not in obj:
            if optional:
                return None
            raise damaged(self.path, f"{where} has no {key!r}")
        value = obj[key]
        # bool is an int to Python, never a port or a pid here
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join("null" if t is _NONE else t.__name__ for t in types)
            raise damaged(self.path, f"{where}.{key} is {_describe(value)}, not {names}")
        return value


def parse_state(path: Path, data: Any) -> StackState:
    """The stack described by ``data`` (read from ``path``), or :class:`StateFileError`."""
    check = _Checker(path)
    if not isinstance(data, dict):
        raise damaged(path, f"it holds {_describe(data)}, not an object")
    if data.get("version") != STATE_VERSION or not isinstance(data.get("services"), dict):
        raise StateFileError(
            f"{path} was written by another chaoslib version (or is not a stack file). "
            "Stop its processes by hand, then delete the file."
        )
    run_dir = check.field(data, "run_dir", (str,), "the file")
    records = {}
    for name, raw in data["services"].items():
        records[name] = _record(check, f"services.{name}", raw)
    links = check.field(data, "links", (dict,), "the file", optional=True) or {}
    for name, port in links.items():
        check.field(links, name, (int,), "links")
        if not 0 < port < 65536:
            raise damaged(path, f"links.{name} is {port}, not a port")
    return StackState(Path(run_dir), records, dict(links))


def _record(check: _Checker, where: str, raw: Any) -> ServiceRecord:
    if not isinstance(raw, dict):
        raise damaged(check.path, f"{where} is {_describe(raw)}, not an object")
    for key in ("name", "host", "url", "run_dir"):
        check.field(raw, key, (str,), where)
    kind = check.field(raw, "kind", (str,), where)
    if kind not in KINDS:
        raise damaged(check.path, f"{where}.kind is {kind!r}, not one of {', '.join(KINDS)}")
    port = check.field(raw, "port", (int,), where)
    if not 0 < port < 65536:
        raise damaged(check.path, f"{where}.port is {port}, not a port")
    spec = check.field(raw, "spec", (dict,), where)
    argv = check.field(spec, "argv", (list,), f"{where}.spec")
    if not argv or not all(isinstance(a, str) for a in argv):
        raise damaged(check.path, f"{where}.spec.argv is not a non-empty list of strings")
    check.field(spec, "log_path", (str,), f"{where}.spec")
    check.field(spec, "env", (dict,), f"{where}.spec", optional=True)
    check.field(spec, "cwd", (str, _NONE), f"{where}.spec", optional=True)
    check.field(spec, "user", (str, _NONE), f"{where}.spec", optional=True)
    check.field(spec, "stop_signal", (int,), f"{where}.spec", optional=True)
    unknown = set(spec) - {"argv", "log_path", "env", "cwd", "user", "stop_signal"}
    if unknown:
        raise damaged(check.path, f"{where}.spec has unknown keys {sorted(unknown)}")
    handle = check.field(raw, "handle", (dict, _NONE), where, optional=True)
    if handle is not None:
        if set(handle) != {"pid", "create_time"}:
            raise damaged(check.path, f"{where}.handle must hold exactly pid and create_time")
        check.field(handle, "pid", (int,), f"{where}.handle")
        check.field(handle, "create_time", (int, float), f"{where}.handle")
    extra = check.field(raw, "extra", (dict,), where, optional=True) or {}
    if kind in ("redis", "postgres"):
        check.field(extra, "binary", (str,), f"{where}.extra")
        check.field(extra, "source", (str,), f"{where}.extra")
    if kind == "postgres":
        check.field(extra, "data_dir", (str, _NONE), f"{where}.extra", optional=True)
    return ServiceRecord.from_dict(raw)


def service_from_record(record: ServiceRecord) -> ManagedServer:
    run_dir = record.run_dir
    service: ManagedServer
    if record.kind == "redis":
        service = RedisServer(
            run_dir,
            name=record.name,
            host=record.host,
            port=record.port,
            owned=False,
            binary=Binary(record.extra["binary"], record.extra["source"]),
        )
    elif record.kind == "toxiproxy":
        service = ToxiproxyServer(
            run_dir, name=record.name, host=record.host, port=record.port, owned=False
        )
    elif record.kind == "postgres":
        service = PostgresServer(
            run_dir,
            name=record.name,
            host=record.host,
            port=record.port,
            owned=False,
            binary=Binary(str(Path(record.extra["binary"]).parent), record.extra["source"]),
            data_dir=record.extra.get("data_dir"),
        )
    else:
        raise StateFileError(f"unknown service kind {record.kind!r} in the state file")
    service.adopt(record)
    return service
