"""``chaos.reset`` for compose projects: what their proxies hold that chaoslib did not
apply (named, never touched), and the projects chaoslib created (taken down)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaoslib.errors import ServiceError
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.recovery import FAILED
from chaoslib.toxiproxy.client import Toxiproxy


def left_alone(profile: Any) -> list[str]:
    """What the profile's running proxy holds that chaoslib did not apply: named, not touched."""
    from chaoslib.services.compose_facts import published_port
    from chaoslib.services.docker import DockerService

    compose = profile.compose
    try:
        found = DockerService.find(service=compose.toxiproxy, project=compose.project)
    except ServiceError as exc:
        return [f"{FAILED}: no Docker engine to check project {compose.project} ({exc})"]
    if not found or not found[0].is_running():
        return [
            f"project {compose.project}: its {compose.toxiproxy} is not running; nothing checked"
        ]
    port = published_port(found[0], 8474)
    if port is None:
        return [
            f"project {compose.project}: {compose.toxiproxy} publishes no API port; not checked"
        ]
    client = Toxiproxy(f"http://127.0.0.1:{port}", timeout=5)
    notes = []
    for name, proxy in client.proxies().items():
        foreign = [t.name for t in client.toxics(name) if not t.name.startswith("chaos_")]
        if not proxy.enabled:
            notes.append(f"left alone: {name} is disabled, and not by chaoslib")
        if foreign:
            notes.append(
                f"left alone: {name} has toxics chaoslib did not apply ({', '.join(foreign)})"
            )
    return notes or [f"project {compose.project}: every link enabled, no foreign toxic"]


def take_down_created(home: Path) -> list[str]:
    from chaoslib.services.compose_projects import CreatedProjects

    projects = CreatedProjects(home)
    found = projects.all()
    if not found:
        return []
    from chaoslib.services.docker import docker_client

    done = []
    for project in found:
        try:
            done.append(projects.take_down(project, docker_client()))
        except Exception as exc:  # a bad record or a dead engine: say so, never crash the reset
            done.append(f"{FAILED} to take down project {project.project}: {exc}")
            continue
        done += _forget_entries_of(project, home)
    return done


def _forget_entries_of(project: Any, home: Path) -> list[str]:
    """Entries on a project that is gone can never heal: dropped, and said."""
    api = f"http://127.0.0.1:{project.env.get('TOXIPROXY_PORT', '')}"
    prefixes = (f"{project.project}_", f"{project.project}-")
    done = []
    for where in {home, home.parent if home.name == "suite" else home / "suite"}:
        ledger = Ledger(where)
        for entry in ledger.scan()[0]:
            container = str(entry.target.get("container", ""))
            if entry.target.get("api") == api or container.startswith(prefixes):
                ledger.remove(entry.id)
                done.append(f"{entry.description}: gone with project {project.project}")
    return done
