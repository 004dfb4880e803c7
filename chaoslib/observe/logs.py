"""Lines of a log file that match patterns, as the guide's ``Select-String`` greps would find them."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from chaoslib.observe.base import Observer
from chaoslib.observe.history import Event, History


class LogObserver(Observer):
    """Tails ``path`` from its current end (or start) and records each matching line.

    ``value`` is the name of the pattern that matched (its key in ``patterns``),
    ``detail`` the whole line. A file that is truncated or replaced is followed.
    """

    kind = "log"

    def __init__(
        self,
        path: str | Path,
        patterns: dict[str, str] | list[str],
        history: History | None = None,
        *,
        name: str | None = None,
        from_start: bool = False,
        interval: float = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or f"log:{Path(path).name}", history, **kwargs)
        self.path = Path(path)
        items = patterns.items() if isinstance(patterns, dict) else ((p, p) for p in patterns)
        self.patterns = {key: re.compile(regex) for key, regex in items}
        self.from_start, self.interval = from_start, interval
        self._offset = 0

    def setup(self) -> None:
        if not self.from_start and self.path.exists():
            self._offset = self.path.stat().st_size

    def _poll(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self._offset:
            self._offset = 0  # truncated or replaced
        if size == self._offset:
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read(size - self._offset)
        complete = data.rfind(b"\n") + 1
        self._offset += complete
        now, wall = self.clock.now(), time.time()
        for raw in data[:complete].splitlines():
            line = raw.decode("utf-8", "replace")
            for key, regex in self.patterns.items():
                if regex.search(line):
                    stamp = _stamp(line)
                    # A line stamped by its writer counts from that moment, not from when it was
                    # read: two services' lines compare correctly whichever file was read first.
                    at = now if stamp is None else now - min(max(wall - stamp, 0.0), 5.0)
                    self.history.add(Event(at, self.name, self.kind, True, key, line))

    def run(self) -> None:
        while not self.stopping:
            self._poll()
            self.clock.sleep(self.interval, self._stop)
        self._poll()  # lines written just before the stop still count


def _stamp(line: str) -> float | None:
    """The line's leading ISO-8601 timestamp with a zone, as epoch seconds; None without one."""
    head = line[:40].split(" ", 1)[0]
    if len(head) < 19 or head[4:5] != "-" or "T" not in head:
        return None
    try:
        moment = datetime.fromisoformat(head)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None


def logs(
    path: str | Path,
    patterns: dict[str, str] | list[str],
    history: History | None = None,
    **kwargs: Any,
) -> LogObserver:
    return LogObserver(path, patterns, history, **kwargs)
