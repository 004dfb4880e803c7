"""What chaoslib checks before it attaches to or creates a compose project: that a project
it would create is not the user's, that an attached one runs with the profile's timings,
and where its alert file is."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from chaoslib.errors import ConfigError
from chaoslib.profiles.profile import ComposeDef, Profile


class Attached(Protocol):
    """What the timing check reads of an attached system (a ComposeSystem), and no more:
    the compose system imports this module, so it names the shape, not the class."""

    profile: Profile
    timing_name: str

    def service(self, name: str) -> Any: ...  # a DockerService: its ``container``


def refuse_existing(client: Any, compose: ComposeDef) -> None:
    """A project with containers or volumes is the user's, stopped or not: never created
    over (chaoslib would then count it as its own, to flush and remove)."""
    label = {"label": f"com.docker.compose.project={compose.project}"}
    containers = [c.name for c in client.containers.list(all=True, filters=label)]
    volumes = [v.name for v in client.volumes.list(filters=label)]
    if containers or volumes:
        raise ConfigError(
            f"the project {compose.project} exists but its {compose.toxiproxy} is "
            f"not running ({', '.join(containers + volumes)}). chaoslib creates only "
            "projects that do not exist; bring yours up (docker-compose -p "
            f"{compose.project} -f ... up -d) and chaoslib attaches to it"
        )


def attached_alert_file(compose: ComposeDef) -> Path | None:
    if not compose.alert_file:
        return None
    path = compose.path(compose.alert_file)
    if path.is_dir() or not path.parent.is_dir():
        raise ConfigError(
            f"compose.alert_file {path}: "
            + ("is a directory" if path.is_dir() else f"{path.parent} does not exist")
            + "; name the file your services write alerts to, on this host"
        )
    return path


def check_timings(system: Attached) -> None:
    """An attached project runs with its own settings: the profile's timings must be
    those, or every limit would judge the system against values it does not run with."""
    for name in system.profile.services:
        env = dict(
            item.split("=", 1) for item in system.service(name).container.attrs["Config"]["Env"]
            if "=" in item
        )  # fmt: skip
        for key, want in system.profile.env_for(system.timing_name).items():
            if key in env and env[key] != want and _as_number(env[key]) != _as_number(want):
                raise ConfigError(
                    f"service {name} runs with {key}={env[key]}, but timing "
                    f"{system.timing_name!r} of profile {system.profile.name} says {want}: "
                    "bring the project up with the profile's timings, or pick the timing "
                    "it runs with (--timing)"
                )


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
