"""Profiles: one YAML file per system under test, validated on load.

A profile names the system's services and how to start them, the links
(which client reaches which stack service through which proxy), the contract
(channels, log lines, alert names) and two timing sets: ``fast`` for CI and
``seed`` for the chaos guide's real values. The same scenario runs against
another system by changing only the profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from chaoslib.errors import ConfigError, ProtectedError
from chaoslib.profiles.contract import Contract
from chaoslib.profiles.services import ReadyDef as ReadyDef  # re-exported
from chaoslib.profiles.services import ServiceDef

STACK_SERVICES = ("redis", "postgres")
TIMINGS = ("fast", "seed")


@dataclass(frozen=True)
class ComposeDef:
    """A docker-compose project: its files, and which of its services are the stack's
    Redis, PostgreSQL and proxy."""

    files: tuple[str, ...]
    project: str
    proxy_config: str
    redis: str = "redis"
    postgres: str = "timescaledb"
    toxiproxy: str = "toxiproxy"
    database_url: str = "postgresql://arbees:arbees@{host}:{port}/arbees_db"
    env: dict[str, str] = field(default_factory=dict)  # defaults; the caller's environment wins
    base_dir: str = ""  # relative files resolve here: the profile file's directory
    # A project the user brought up is attached to, never changed: these say where its
    # alerts go (the alert file on this host; the port its webhook URL points at on the
    # docker bridge) and which of its Redis keys may go between scenarios.
    alert_file: str = ""
    # A project chaoslib creates: the file its services write alerts to in ${CHAOS_ALERT_DIR}.
    alert_file_name: str = ""
    webhook_port: int = 0
    reset_keys: tuple[str, ...] = ()
    disposable: bool = False  # its data may be wiped, with --allow-reset-data

    def path(self, name: str) -> Path:
        """A file of the project: ``$VARS`` expanded, relative to ``base_dir``."""
        expanded = Path(os.path.expandvars(name))
        return expanded if expanded.is_absolute() else Path(self.base_dir) / expanded


NUMBER = (int, float)
# How a setting is written into an env var: seconds scaled to the var's own unit.
UNITS = {"s": 1.0, "ms": 1000.0, "percent": 100.0, "as_is": 1.0}


@dataclass(frozen=True)
class LinkDef:
    name: str
    service: str  # a stack service: redis or postgres
    client: str  # a service of the profile


@dataclass(frozen=True)
class Timing:
    env: dict[str, str]
    waits: dict[str, float]  # how long a scenario holds or observes, in seconds
    limits: dict[str, float]  # the thresholds its checks judge against
    settings: dict[str, float] = field(default_factory=dict)  # the guide's, in its units

    def wait(self, key: str) -> float:
        if key not in self.waits:
            raise ConfigError(
                f"the profile's timings have no wait {key!r}; add it to timings.*.waits"
            )
        return self.waits[key]

    def limit(self, key: str) -> float:
        if key not in self.limits:
            raise ConfigError(
                f"the profile's timings have no limit {key!r}; add it to timings.*.limits"
            )
        return self.limits[key]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    protected: bool
    services: dict[str, ServiceDef]
    links: dict[str, LinkDef]
    contract: Contract
    timings: dict[str, Timing]
    fragile: tuple[str, ...] = ()  # flags the system accepts in FRAGILE, to prove checks can fail
    compose: ComposeDef | None = None
    path: str = ""
    # env var -> (setting, unit): how each service reads the timing's settings
    settings_env: dict[str, tuple[str, str]] = field(default_factory=dict)

    def guard(self, force: bool) -> None:
        """Refuse faults on a protected environment unless forced (then log that it was)."""
        if not self.protected:
            return
        if not force:
            raise ProtectedError(self.name, self.path or "built-in")
        logger.warning("profile {} is protected; injecting faults because of --force", self.name)

    def check_fragile(self, flags: str) -> str:
        """``a,b`` validated against the profile's flags; returns the normalised list."""
        given = [f.strip() for f in flags.split(",") if f.strip()]
        unknown = [f for f in given if f not in self.fragile]
        if unknown:
            accepted = ", ".join(self.fragile) or "none (this profile declares no fragile flags)"
            raise ConfigError(f"unknown fragile flag(s) {', '.join(unknown)}; accepted: {accepted}")
        return ",".join(given)

    def timing(self, name: str) -> Timing:
        if name not in self.timings:
            raise ConfigError(
                f"timing {name!r} is not in profile {self.name}; use one of {', '.join(self.timings)}"
            )
        return self.timings[name]

    def workers(self) -> list[str]:
        return list(self.contract.roles.workers)

    def env_for(self, timing: str, service: str | None = None) -> dict[str, str]:
        """The timing's env and its settings under the system's own env var names (and,
        with ``service``, under that service's own names too)."""
        chosen = self.timing(timing)
        names = {**self.settings_env, **(self.services[service].settings_env if service else {})}
        mapped = {
            env: env_value(chosen.settings[setting], unit) for env, (setting, unit) in names.items()
        }
        return {**chosen.env, **mapped}

    def links_of(self, client: str) -> list[str]:
        return [link.name for link in self.links.values() if link.client == client]


def env_value(value: float, unit: str) -> str:
    """A setting as an env var's text: whole numbers without a decimal point."""
    scaled = value * UNITS[unit]
    return str(int(round(scaled))) if abs(scaled - round(scaled)) < 1e-9 else repr(scaled)
