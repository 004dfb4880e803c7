"""noop: passes everything through unchanged."""

from __future__ import annotations

from chaoslib.proxy.toxics.base import Toxic


class Noop(Toxic):
    type_name = "noop"
