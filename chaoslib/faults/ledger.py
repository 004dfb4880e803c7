"""The ledger of applied faults: written *before* a fault is applied, cleared when healed.

If the process holding a fault dies (SIGKILL, power cut), the ledger still
says what to undo, and ``invoke chaos.reset`` undoes it. Entries are plain
JSON records that name how to heal, so a different process can do it.

The file can be edited or damaged. An entry chaoslib cannot read is never
guessed at and never dropped: it stays in the file, byte for byte, and
:meth:`Ledger.entries` refuses to answer until someone fixes or deletes it
(:meth:`Ledger.scan` reads around it, for ``chaos.reset``).
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaoslib.errors import ChaosError
from chaoslib.state import StateFileError, chaos_home, locked, read_json, write_json


@dataclass(frozen=True)
class LedgerEntry:
    """How to heal one applied fault: ``kind`` picks the healer, ``target`` says what."""

    kind: str  # "toxic", "link_down", "service", "network", "packet": picks its healer
    target: dict[str, Any]
    description: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    pid: int = field(default_factory=os.getpid)
    applied_at: float = field(default_factory=time.time)
    # The embedded stack the fault was applied to (Stack.identity), stamped by add(): a
    # reset drops the entry once that stack is no longer the recorded one.
    stack: str | None = None
    # Resets that could not reach the target; past a bound the entry is dropped.
    failed_resets: int = 0


class LedgerError(StateFileError):
    """The ledger file, or an entry in it, is not what chaoslib wrote."""


# key -> accepted types; the first four are required
_FIELDS: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "target": (dict,),
    "description": (str,),
    "id": (str,),
    "pid": (int,),
    "applied_at": (int, float),
    "stack": (str, type(None)),
    "failed_resets": (int,),
}
_REQUIRED = ("kind", "target", "description", "id")
# what each kind's healer (see register_healer) reads from the target (other kinds: not checked)
_TARGETS: dict[str, dict[str, type]] = {
    "toxic": {"api": str, "proxy": str, "toxics": list},
    "link_down": {"api": str, "proxies": list},
    "service": {"service": str},
    "network": {"container": str, "network": str},
    "packet": {"container": str},
}


def parse_entry(raw: Any) -> LedgerEntry | str:
    """The entry ``raw`` records, or what is wrong with it."""
    if not isinstance(raw, dict):
        return f"is {type(raw).__name__} {str(raw)[:60]!r}, not an object"
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        return f"has no {', '.join(repr(k) for k in missing)}"
    for key, types in _FIELDS.items():
        value = raw.get(key)
        if key in raw and (not isinstance(value, types) or isinstance(value, bool)):
            return f"has {key}={str(value)[:60]!r}, not {' or '.join(t.__name__ for t in types)}"
    for key, kind in _TARGETS.get(raw["kind"], {}).items():
        if key not in raw["target"]:
            return f"({raw['kind']}) has no target.{key}"
        value = raw["target"][key]
        if not isinstance(value, kind) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)
        ):
            what = "a list of names" if kind is list else "a string"
            return f"({raw['kind']}) has target.{key}={repr(value)[:60]}, not {what}"
    known = {key: raw[key] for key in _FIELDS if key in raw}
    known.setdefault("pid", 0)
    known.setdefault("applied_at", 0.0)  # unknown: old enough for a reset to give up on it
    return LedgerEntry(**known)


class Ledger:
    def __init__(self, home: Path | None = None) -> None:
        self.path = chaos_home(home) / "ledger.json"
        self._lock = self.path.with_suffix(".lock")

    def _read(self) -> list[Any]:
        """The raw entries; an entry chaoslib cannot read is kept as it is."""
        data = read_json(self.path)
        if data is None:
            return []
        faults = data.get("faults", []) if isinstance(data, dict) else None
        if not isinstance(faults, list):
            raise LedgerError(
                f'{self.path} is not a ledger (it must be an object whose "faults" is a '
                "list). chaoslib left it as it is. Fix or delete it by hand, then run "
                "chaos.reset (with --all it also clears every toxic and disabled link "
                "through the proxy's /reset, a user's own included)."
            )
        return list(faults)

    def _write(self, faults: list[Any]) -> None:
        write_json(self.path, {"faults": faults})

    def _unreadable(self, index: int, problem: str) -> LedgerError:
        return LedgerError(
            f"{self.path}: entry {index + 1} {problem}. chaoslib cannot tell what it recorded, "
            "so it left it in the file. Fix or delete that entry by hand, then run "
            "chaos.reset again."
        )

    def add(self, entry: LedgerEntry) -> LedgerEntry:
        with locked(self._lock):
            if entry.stack is None:
                entry = dataclasses.replace(entry, stack=self._stack_of(entry))
            self._write([*self._read(), asdict(entry)])
        return entry

    def _stack_of(self, entry: LedgerEntry) -> str | None:
        """The identity of this home's embedded stack, if the entry's target is on it."""
        try:
            data = read_json(self.path.parent / "stack.json")
            services = data["services"]
            on_proxy = entry.target.get("api") == services["toxiproxy"]["url"]
            on_service = (
                entry.kind == "service"
                and not entry.target.get("container")
                and entry.target.get("service") in services
            )
            return str(data["run_dir"]) if on_proxy or on_service else None
        except (StateFileError, TypeError, KeyError, AttributeError):
            return None  # no stack (or a damaged file): the entry names no stack

    def remove(self, entry_id: str) -> None:
        with locked(self._lock):
            faults = self._read()
            kept = [f for f in faults if not (isinstance(f, dict) and f.get("id") == entry_id)]
            if len(kept) != len(faults):
                self._write(kept)

    def entries(self) -> list[LedgerEntry]:
        """Every entry; :class:`LedgerError` if any cannot be read (nothing is guessed)."""
        found, problems = self.scan()
        if problems:
            raise problems[0]
        return found

    def scan(self) -> tuple[list[LedgerEntry], list[LedgerError]]:
        """The entries that can be read, and one error for each that cannot."""
        with locked(self._lock):
            raw = self._read()
        found: list[LedgerEntry] = []
        problems: list[LedgerError] = []
        for index, item in enumerate(raw):
            parsed = parse_entry(item)
            if isinstance(parsed, str):
                problems.append(self._unreadable(index, parsed))
            else:
                found.append(parsed)
        return found, problems

    def count_failed_reset(self, entry_id: str) -> int:
        """One more reset that could not reach this entry's target: the new count."""
        with locked(self._lock):
            faults = self._read()
            count = 0
            for item in faults:
                if isinstance(item, dict) and item.get("id") == entry_id:
                    previous = item.get("failed_resets", 0)
                    count = (previous if isinstance(previous, int) else 0) + 1
                    item["failed_resets"] = count
            self._write(faults)
            return count

    def clear(self) -> None:
        with locked(self._lock):
            self._write([])


class HealError(ChaosError):
    """A recorded fault could not be healed now; ``gone`` when it never can be: its target is
    gone (a dropped entry, and a success), or chaoslib cannot heal it at all (``unhealable``:
    dropped too, since no retry can help, but reported as FAILED)."""

    def __init__(self, message: str, *, gone: bool = False, unhealable: bool = False) -> None:
        super().__init__(message)
        self.gone = gone or unhealable
        self.unhealable = unhealable


@dataclass(frozen=True)
class RunningStack:
    """The embedded stack that runs now, as far as healing needs it: which one it is (its
    identity, stamped in the entries applied to it) and its servers by name. The caller
    reads it off the stack, so the fault layer never imports what opens one."""

    identity: str | None
    services: Mapping[str, Any] = field(default_factory=dict)  # name -> a ManagedServer


# (entry, the running stack or None) -> a line saying what was done; raises HealError.
Healer = Callable[[LedgerEntry, RunningStack | None], str]
_HEALERS: dict[str, Healer] = {}


def register_healer(kind: str) -> Callable[[Healer], Healer]:
    """Declare how a stranger heals entries of ``kind``: each fault module registers the
    healer of the entries its faults write, next to the fault, so that a new kind of fault
    needs no change to :mod:`chaoslib.faults.recovery`."""

    def register(healer: Healer) -> Healer:
        known = _HEALERS.get(kind)
        if known is not None and known is not healer:
            raise ValueError(f"ledger kind {kind!r} already has a healer: {known.__qualname__}")
        _HEALERS[kind] = healer
        return healer

    return register


def healer_for(kind: str) -> Healer | None:
    return _HEALERS.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_HEALERS)
