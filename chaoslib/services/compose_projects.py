"""The docker-compose projects chaoslib created itself: the only ones it may take down.

A project the user brought up is attached to and never stopped, wiped or
removed. A project chaoslib brings up is recorded here *before* ``up`` runs,
so that ``invoke chaos.reset`` can take it down after a SIGKILL. The record
is the marker: without one, nothing is ever taken down. It is also checked
against the engine, so an edited state file cannot make chaoslib remove a
project that existed before the record was written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from loguru import logger

from chaoslib.errors import ChaosError, ConfigError, ServiceError
from chaoslib.state import chaos_home, locked, read_json, write_json

MARKER = "created-by-chaoslib"
# The engine stamps a container's creation in nanoseconds on the host's clock; a little
# slack for the record being written, never so much that a project made just before counts.
CLOCK_SLACK_S = 0.5
UP_TIMEOUT_S = 300.0  # how long chaoslib lets ``up`` take


def compose_command() -> list[str]:
    """``docker-compose`` (v1) or ``docker compose`` (v2), whichever is installed."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    raise ConfigError("neither docker-compose nor the docker compose plugin is installed")


@dataclass(frozen=True)
class CreatedProject:
    project: str
    files: tuple[str, ...]  # absolute paths
    cwd: str
    env: dict[str, str]  # what chaoslib set for the compose files' variables
    created_at: float = field(default_factory=time.time)
    marker: str = MARKER
    containers: tuple[str, ...] = ()  # the ids ``up`` made; empty if it died during up

    def run(self, *args: str, timeout: float = 300) -> str:
        files = [a for f in self.files for a in ("-f", f)]
        argv = [*compose_command(), "-p", self.project, *files, *args]
        done = subprocess.run(
            argv,
            cwd=self.cwd,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise ServiceError(
                f"{' '.join(argv[:1] + list(args))} (project {self.project}) failed "
                f"({done.returncode})",
                log_tail=(done.stderr or done.stdout)[-3000:],
            )
        return done.stdout


class CreatedProjects:
    """``<chaos home>/compose-projects.json``."""

    def __init__(self, home: Path | None = None) -> None:
        self.path = chaos_home(home) / "compose-projects.json"
        self._lock = self.path.with_suffix(".lock")

    def _read(self) -> list[dict[str, Any]]:
        return list((read_json(self.path) or {}).get("projects", []))

    def all(self) -> list[CreatedProject]:
        """The well-formed records chaoslib wrote; anything else is ignored, never acted on."""
        with locked(self._lock):
            try:
                raw = self._read()
            except (ChaosError, AttributeError, TypeError) as exc:
                logger.warning("ignoring {}: {}", self.path, exc)
                return []
        out = []
        for item in raw:
            if not isinstance(item, dict) or item.get("marker") != MARKER:
                continue
            try:
                project = CreatedProject(
                    **{**item, "files": tuple(item["files"]),
                       "containers": tuple(item.get("containers", ()))}
                )  # fmt: skip
                ok = isinstance(project.created_at, int | float) and isinstance(project.env, dict)
            except (KeyError, TypeError) as exc:
                ok, project = False, None
                logger.warning("ignoring a malformed project record in {}: {}", self.path, exc)
            if ok and project is not None:
                out.append(project)
        return out

    def record_containers(self, project: CreatedProject, client: Any) -> CreatedProject:
        """After ``up``: the containers it made are the only ones chaoslib may remove."""
        made = client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={project.project}"}
        )
        done = replace(project, containers=tuple(sorted(c.id for c in made)))
        self.record(done)
        return done

    def record(self, project: CreatedProject) -> None:
        with locked(self._lock):
            kept = [p for p in self._read() if p.get("project") != project.project]
            write_json(self.path, {"projects": [*kept, asdict(project)]})

    def forget(self, name: str) -> None:
        with locked(self._lock):
            kept = [p for p in self._read() if p.get("project") != name]
            write_json(self.path, {"projects": kept})

    def take_down(self, project: CreatedProject, client: Any) -> str:
        """``down -v`` a project chaoslib created, if its containers are the ones it made."""
        containers = client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={project.project}"}
        )
        if project.containers:  # up finished: exactly those containers, no others
            foreign = [c.name for c in containers if c.id not in project.containers]
        else:  # it died during up: only containers made within up's time
            foreign = [
                c.name for c in containers
                if not project.created_at - CLOCK_SLACK_S <= _created(c)
                <= project.created_at + UP_TIMEOUT_S + CLOCK_SLACK_S
            ]  # fmt: skip
        if foreign:
            self.forget(project.project)
            raise ConfigError(
                f"project {project.project} has containers chaoslib did not create "
                f"({', '.join(foreign)}): it is not the project chaoslib created, so it is left "
                "alone and the record dropped"
            )
        missing = [f for f in project.files if not Path(f).is_file()]
        if missing or not Path(project.cwd).is_dir():
            self.forget(project.project)
            raise ConfigError(
                f"project {project.project}: its compose files are gone "
                f"({', '.join(missing) or project.cwd}); take it down by hand if it still runs"
            )
        if not project.containers:
            # Its up was cut short: what it made is chaoslib's, but without the list of
            # containers, volumes are kept rather than risked.
            project.run("down", "--remove-orphans", timeout=180)
            self.forget(project.project)
            return (f"took down project {project.project}, which chaoslib had created (its up "
                    "was interrupted, so its volumes were kept)")  # fmt: skip
        project.run("down", "-v", "--remove-orphans", timeout=180)
        self.forget(project.project)
        return f"took down project {project.project}, which chaoslib had created"


def _created(container: Any) -> float:
    from datetime import datetime

    text = str(container.attrs.get("Created", ""))
    try:  # e.g. 2026-12-01T12:00:00.123456789Z: fromisoformat takes at most microseconds
        head, _, frac = text.rstrip("Z").partition(".")
        stamp = datetime.fromisoformat(head + "+00:00").timestamp()
        return stamp + (float(f"0.{frac}") if frac.isdigit() else 0.0)
    except ValueError:
        return 0.0
