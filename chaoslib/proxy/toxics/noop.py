"""noop: passes everything through unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from chaoslib.proxy.toxics.base import Toxic


@dataclass(frozen=True)
class NoopAttributes:
    pass


class Noop(Toxic):
    type_name = "noop"
    Attributes = NoopAttributes
