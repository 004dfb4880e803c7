"""A container's log, followed into a file across stops and restarts.

The observers read log files; a container's log stream ends when it stops, so
the follower waits for it to run again and resumes from the last timestamp.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from loguru import logger

from chaoslib.services.docker import DockerService


def _epoch(stamp: str) -> float | None:
    """Docker's RFC 3339 nanosecond timestamp as epoch seconds (microseconds kept)."""
    try:
        head, _, frac = stamp.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()
    except ValueError:
        return None


class LogFollower:
    def __init__(self, service: DockerService, path: Path, *, poll: float = 0.1) -> None:
        self.service, self.path, self.poll = service, path, poll
        self._stop = threading.Event()
        self._since = time.time()
        self._thread: threading.Thread | None = None

    def start(self) -> LogFollower:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(
            target=self._run, name=f"logs-{self.service.name}", daemon=True
        )
        self._thread.start()
        return self

    def _follow_once(self, out) -> None:  # noqa: ANN001 - an open text file
        since = self._since
        for line in self.service.logs(follow=True, since=since):
            stamp, _, text = line.partition(" ")
            at = _epoch(stamp)
            if at is not None:
                if at < since:
                    continue  # already written before the container stopped
                self._since = max(self._since, at + 1e-6)
            out.write(text + "\n")
            out.flush()
            if self._stop.is_set():
                return

    def _run(self) -> None:
        with open(self.path, "a", encoding="utf-8") as out:
            while not self._stop.is_set():
                try:
                    if self.service.is_running():
                        self._follow_once(out)
                except Exception as exc:  # the container went away; wait for it to come back
                    logger.debug("log follower {}: {}", self.service.name, exc)
                self._stop.wait(self.poll)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
