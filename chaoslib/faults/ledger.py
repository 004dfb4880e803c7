"""The ledger of applied faults: written *before* a fault is applied, cleared when healed.

If the process holding a fault dies (SIGKILL, power cut), the ledger still
says what to undo, and ``invoke chaos.reset`` undoes it. Entries are plain
JSON records that name how to heal, so a different process can do it.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaoslib.state import chaos_home, locked, read_json, write_json


@dataclass(frozen=True)
class LedgerEntry:
    """How to heal one applied fault: ``kind`` picks the healer, ``target`` says what."""

    kind: str  # "toxic", "link_down", "service"
    target: dict[str, Any]
    description: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    pid: int = field(default_factory=os.getpid)
    applied_at: float = field(default_factory=time.time)


class Ledger:
    def __init__(self, home: Path | None = None) -> None:
        self.path = chaos_home(home) / "ledger.json"
        self._lock = self.path.with_suffix(".lock")

    def _read(self) -> list[dict[str, Any]]:
        return list((read_json(self.path) or {}).get("faults", []))

    def _write(self, faults: list[dict[str, Any]]) -> None:
        write_json(self.path, {"faults": faults})

    def add(self, entry: LedgerEntry) -> LedgerEntry:
        with locked(self._lock):
            self._write([*self._read(), asdict(entry)])
        return entry

    def remove(self, entry_id: str) -> None:
        with locked(self._lock):
            faults = self._read()
            kept = [f for f in faults if f.get("id") != entry_id]
            if len(kept) != len(faults):
                self._write(kept)

    def entries(self) -> list[LedgerEntry]:
        with locked(self._lock):
            return [LedgerEntry(**raw) for raw in self._read()]

    def clear(self) -> None:
        with locked(self._lock):
            self._write([])
