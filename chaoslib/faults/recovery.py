"""Healing faults left by a run that died: what ``invoke chaos.reset`` does."""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.stack import Stack
from chaoslib.toxiproxy import Toxiproxy, ToxiproxyError


def _ignore_missing(exc: ToxiproxyError) -> None:
    if exc.status != 404:
        raise exc


def heal_entry(entry: LedgerEntry, stack: Stack | None) -> str:
    """Undo one recorded fault; returns what was done."""
    target = entry.target
    if entry.kind == "toxic":
        client = Toxiproxy(target["api"], timeout=5)
        for name in target["toxics"]:
            try:
                client.remove_toxic(target["proxy"], name)
            except ToxiproxyError as exc:
                _ignore_missing(exc)
        return f"removed toxics {', '.join(target['toxics'])} from {target['proxy']}"
    if entry.kind == "link_down":
        client = Toxiproxy(target["api"], timeout=5)
        for proxy in target["proxies"]:
            try:
                client.enable(proxy)
            except ToxiproxyError as exc:
                _ignore_missing(exc)
        return f"enabled {', '.join(target['proxies'])}"
    if entry.kind == "service" and target.get("container"):
        return _restore_container(target["container"])
    if entry.kind == "service":
        service = stack.services.get(target["service"]) if stack else None
        if service is None:
            return f"service {target['service']} is not in the running stack; nothing to restore"
        return restore_service(service)
    if entry.kind in ("packet", "network"):
        return _heal_container(entry)
    return f"unknown fault kind {entry.kind!r}; left alone"


def _restore_container(name: str) -> str:
    from chaoslib.errors import ServiceError
    from chaoslib.services.docker import DockerService

    try:
        found = DockerService.find(name=name)
    except ServiceError as exc:
        return f"container {name}: no Docker engine to restore it ({exc})"
    if not found:
        return f"container {name} is gone; nothing to restore"
    return restore_service(found[0])


def _heal_container(entry: LedgerEntry) -> str:
    from chaoslib.errors import ServiceError
    from chaoslib.services.docker import DockerService

    target = entry.target
    try:
        found = DockerService.find(name=target["container"])
    except ServiceError as exc:
        return f"{entry.description}: no Docker engine to heal it ({exc})"
    if not found:
        return f"container {target['container']} is gone; nothing to heal"
    service = found[0]
    if entry.kind == "network":
        if target["network"] not in service.networks():
            service.connect(target["network"], aliases=[target.get("alias", service.name)])
        return f"reconnected {target['container']} to {target['network']}"
    from chaoslib.faults.packet import clear

    if not service.is_running() or not service.pid:
        return f"container {target['container']} is not running; its namespace is gone"
    from chaoslib.faults.packet import interface_of

    removed = clear(service.pid, target.get("interface") or interface_of(service.pid))
    return f"removed from {target['container']}: {', '.join(removed) or 'nothing left'}"


def restore_service(service) -> str:  # noqa: ANN001 - any ManagedServer
    if service.is_paused():
        service.resume()
        return f"resumed {service.name}"
    if not service.is_running():
        service.start()
        return f"started {service.name}"
    return f"{service.name} was running"


def reset_all(home: Path | None = None) -> list[str]:
    """Heal every ledger entry, reset the stack's proxy, and bring stopped services back."""
    ledger = Ledger(home)
    stack = Stack.load(home)
    done: list[str] = []
    for entry in ledger.entries():
        try:
            done.append(heal_entry(entry, stack))
            ledger.remove(entry.id)
        except ToxiproxyError as exc:
            logger.warning("could not heal {}: {}", entry.description, exc)
            done.append(f"FAILED to heal {entry.description}: {exc}")
    if stack is not None:
        for service in stack.services.values():
            if service.is_paused() or not service.is_running():
                done.append(restore_service(service))
        if stack.proxy_url:
            Toxiproxy(stack.proxy_url, timeout=5).reset()
            done.append("proxy reset: every link enabled, every toxic removed")
    return done
