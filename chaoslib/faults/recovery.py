"""Healing faults left by a run that died: what ``invoke chaos.reset`` does.

It acts on the ledger only (what chaoslib applied), on the stack a suite started
for itself, and on compose projects chaoslib created; never on anything else.
Every line it returns says what it did; a line starting with :data:`FAILED`
is something it could not heal (the task then exits non-zero).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger

from chaoslib.errors import ChaosError, ServiceError
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.stack import Stack
from chaoslib.toxiproxy import Toxiproxy, ToxiproxyError

FAILED = "FAILED"


class HealError(ChaosError):
    """A recorded fault could not be healed now; ``gone`` when it never can be."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


def _toxiproxy_call(call: Any, what: str) -> None:
    try:
        call()
    except ToxiproxyError as exc:
        if exc.status != 404:  # a toxic or proxy that is gone is healed
            raise HealError(f"{what}: {exc}") from None


def heal_entry(entry: LedgerEntry, stack: Stack | None) -> str:
    """Undo one recorded fault; returns what was done, or raises :class:`HealError`."""
    target = entry.target
    if entry.kind == "toxic":
        client = Toxiproxy(target["api"], timeout=5)
        for name in target["toxics"]:
            _toxiproxy_call(
                lambda name=name: client.remove_toxic(target["proxy"], name),
                f"removing {name} from {target['proxy']} at {target['api']}",
            )
        return f"removed toxics {', '.join(target['toxics'])} from {target['proxy']}"
    if entry.kind == "link_down":
        client = Toxiproxy(target["api"], timeout=5)
        for proxy in target["proxies"]:
            _toxiproxy_call(
                lambda proxy=proxy: client.enable(proxy), f"enabling {proxy} at {target['api']}"
            )
        return f"enabled {', '.join(target['proxies'])}"
    if entry.kind == "service" and target.get("container"):
        return restore_service(_container(target["container"], entry))
    if entry.kind == "service":
        service = stack.services.get(target["service"]) if stack else None
        if service is None:
            return f"service {target['service']} is not in the running stack; nothing to restore"
        return restore_service(service)
    if entry.kind in ("packet", "network"):
        return _heal_container(entry)
    raise HealError(f"unknown fault kind {entry.kind!r}: chaoslib cannot heal it", gone=True)


def _container(name: str, entry: LedgerEntry) -> Any:
    from chaoslib.services.docker import DockerService

    try:
        found = DockerService.find(name=name)
    except ServiceError as exc:
        raise HealError(f"{entry.description}: no Docker engine to heal it ({exc})") from None
    if not found:
        raise HealError(f"container {name} is gone; {entry.description} cannot be undone",
                        gone=True)  # fmt: skip
    return found[0]


def _heal_container(entry: LedgerEntry) -> str:
    target = entry.target
    service = _container(target["container"], entry)
    if entry.kind == "network":
        if target["network"] not in service.networks():
            service.connect(target["network"], aliases=[target.get("alias", service.name)])
        return f"reconnected {target['container']} to {target['network']}"
    from chaoslib.faults.packet import HANDLE, clear, interface_of

    if not service.is_running() or not service.pid:
        return f"container {target['container']} is not running; its namespace is gone"
    # Only what the entry says chaoslib added: a root qdisc of that kind with that handle
    # (an entry from before handles were recorded matches none, so a qdisc is left alone).
    cleared = clear(
        service.pid,
        target.get("interface") or interface_of(service.pid),
        tuple(target.get("kinds") or ("rate", "loss")),
        qdisc=target.get("qdisc", "tbf"),
        handle=target.get("handle", HANDLE if "kinds" in target else ""),
    )
    return cleared.summary(target["container"])


def restore_service(service) -> str:  # noqa: ANN001 - any ManagedServer or DockerService
    if service.is_paused():
        service.resume()
        return f"resumed {service.name}"
    if not service.is_running():
        service.start()
        return f"started {service.name}"
    return f"{service.name} was running"


def heal_ledger(ledger: Ledger, stack: Stack | None, label: str = "") -> list[str]:
    """Every entry healed and dropped; one that cannot be healed now is kept for a retry."""
    done: list[str] = []
    for entry in ledger.entries():
        try:
            done.append(f"{label}{heal_entry(entry, stack)}")
            ledger.remove(entry.id)
        except HealError as exc:
            logger.warning("could not heal {}: {}", entry.description, exc)
            if exc.gone:
                ledger.remove(entry.id)
            kept = "dropped: it can never be healed" if exc.gone else "kept for the next reset"
            done.append(f"{FAILED} to heal {label}{entry.description}: {exc} ({kept})")
        except Exception as exc:  # an engine or API failing mid-heal: say so, keep going
            logger.warning("could not heal {}: {}", entry.description, exc)
            done.append(f"{FAILED} to heal {label}{entry.description}: {exc} (kept)")
    return done


def reset_all(home: Path | None = None, profile: str | None = None) -> list[str]:
    """Heal every ledger entry, the stack's services, a dead suite's leftovers and the compose
    projects chaoslib created; with a compose ``profile``, report what was left alone."""
    from chaoslib.state import chaos_home

    loaded = None
    if profile:
        from chaoslib.profile import load_profile

        loaded = load_profile(profile)
    stack = Stack.load(home)
    done = heal_ledger(Ledger(home), stack)
    if stack is not None:
        for service in stack.services.values():
            if service.is_paused() or not service.is_running():
                done.append(restore_service(service))
        if stack.proxy_url:
            Toxiproxy(stack.proxy_url, timeout=5).reset()
            done.append("proxy reset: every link enabled, every toxic removed")
    suite_home = chaos_home(home) / "suite"
    if suite_home.exists():
        done += _suite_leftovers(suite_home)
    for where in (chaos_home(home), suite_home):
        done += _take_down_created(where)
    if loaded is not None and loaded.compose is not None:
        done += left_alone(loaded)
    return done


def _suite_leftovers(home: Path) -> list[str]:
    """A suite that died: its own embedded stack goes (with every fault on it); faults it
    left on anything else (a compose project's links and containers) are healed."""
    from chaoslib.stack import down

    own = Stack.load(home)
    done = [f"suite leftovers: {line}" for line in down(home) or []]
    ledger = Ledger(home)
    for entry in ledger.entries():
        on_own_stack = own is not None and (
            entry.target.get("api") == own.proxy_url
            or (entry.kind == "service" and not entry.target.get("container"))
        )
        if on_own_stack:
            ledger.remove(entry.id)
            done.append(f"suite leftovers: {entry.description}: gone with the suite's own stack")
    return done + heal_ledger(ledger, None, "suite leftovers: ")


def left_alone(profile: Any) -> list[str]:
    """What the profile's running proxy holds that chaoslib did not apply: named, not touched."""
    from chaoslib.compose_facts import published_port
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


def _take_down_created(home: Path) -> list[str]:
    from chaoslib.compose_projects import CreatedProjects

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
        for entry in ledger.entries():
            container = str(entry.target.get("container", ""))
            if entry.target.get("api") == api or container.startswith(prefixes):
                ledger.remove(entry.id)
                done.append(f"{entry.description}: gone with project {project.project}")
    return done
