"""Healing faults left by a run that died: the healers ``invoke chaos.reset`` runs
(:mod:`chaoslib.target.reset` puts them together over the stacks and projects it finds).

They act on the ledger only (what chaoslib applied), never on anything else. Every
line they return says what they did; a line starting with :data:`FAILED` is
something they could not heal (the task then exits non-zero).

Nothing stays in the ledger for good. An entry is dropped, and said so, when its
target is gone: the embedded stack it was applied to is no longer the recorded
one (the stack's identity is stamped in the entry), nothing listens at its proxy
API any more (a proxy keeps toxics and disabled links in memory only, so a dead
one holds none, and one started again at that address starts clean), or its
container is gone. An entry whose target answers but cannot be healed (a paused
proxy, an engine that errs) is kept for the next reset, but only for
:data:`MAX_FAILED_RESETS` resets and :data:`MIN_AGE_TO_GIVE_UP` seconds; then it is
dropped with a FAILED line that says what may still hold.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

# Imported for what it registers: the healers of toxics and links down.
import chaoslib.faults.network  # noqa: F401
from chaoslib.errors import ChaosError, ServiceError
from chaoslib.faults.ledger import (
    HealError,
    Ledger,
    LedgerEntry,
    LedgerError,
    healer_for,
    register_healer,
    registered_kinds,
)

FAILED = "FAILED"
MAX_FAILED_RESETS = 3
# A proxy paused or restarting answers again within minutes; three resets over ten
# minutes that could not reach it mean it is not coming back as it was.
MIN_AGE_TO_GIVE_UP = 600.0


@dataclass(frozen=True)
class RunningStack:
    """The embedded stack that runs now, as far as healing needs it: which one it is (its
    identity, stamped in the entries applied to it) and its servers by name. The caller
    reads it off the stack, so the fault layer never imports what opens one."""

    identity: str | None
    services: Mapping[str, Any] = field(default_factory=dict)  # name -> a ManagedServer


def heal_entry(entry: LedgerEntry, stack: RunningStack | None) -> str:
    """Undo one recorded fault with the healer its kind registered; returns what was done,
    or raises :class:`HealError`."""
    healer = healer_for(entry.kind)
    if healer is None:
        raise HealError(
            f"unknown fault kind {entry.kind!r}: chaoslib cannot heal it (it heals "
            f"{', '.join(registered_kinds())})",
            unhealable=True,
        )
    return healer(entry, stack)


# -- healers of the kinds whose fault modules do not register one themselves yet -------
@register_healer("service")
def _heal_service(entry: LedgerEntry, stack: RunningStack | None) -> str:
    target = entry.target
    if target.get("container"):
        return restore_service(_container(target["container"], entry))
    service = stack.services.get(target["service"]) if stack else None
    if service is None:
        return f"service {target['service']} is not in the running stack; nothing to restore"
    return restore_service(service)


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


@register_healer("packet")
@register_healer("network")
def _heal_container(entry: LedgerEntry, stack: RunningStack | None = None) -> str:
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


def heal_ledger(ledger: Ledger, stack: RunningStack | None, label: str = "") -> list[str]:
    """Every entry healed or, if its target is gone, dropped; one that cannot be healed now is
    kept for a bounded number of retries. An entry chaoslib cannot read stays in the file."""
    try:
        entries, problems = ledger.scan()
    except LedgerError as exc:
        return [f"{FAILED}: {label}{exc}"]
    done = [f"{FAILED}: {label}{problem}" for problem in problems]
    for entry in entries:
        gone = target_gone(entry, stack)
        if gone:
            ledger.remove(entry.id)
            done.append(f"{label}dropped {entry.description}: {gone}")
            continue
        try:
            done.append(f"{label}{heal_entry(entry, stack)}")
            ledger.remove(entry.id)
        except HealError as exc:
            logger.warning("could not heal {}: {}", entry.description, exc)
            if exc.unhealable:
                ledger.remove(entry.id)
                done.append(f"{FAILED} to heal {label}{entry.description}: {exc} (dropped)")
            elif exc.gone:
                ledger.remove(entry.id)
                done.append(f"{label}dropped {entry.description}: {exc}")
            else:
                done.append(_kept_or_given_up(ledger, entry, exc, label))
        except Exception as exc:  # an engine or API failing mid-heal: say so, keep going
            logger.warning("could not heal {}: {}", entry.description, exc)
            done.append(_kept_or_given_up(ledger, entry, exc, label))
    return done


def target_gone(entry: LedgerEntry, stack: RunningStack | None) -> str | None:
    """Why the entry's fault no longer exists anywhere, or None if it may still hold."""
    if entry.stack is not None and (stack is None or stack.identity != entry.stack):
        now = "no stack is running now" if stack is None else "another stack runs now"
        return f"the stack it was applied to ({entry.stack}) was torn down, and {now}"
    api = entry.target.get("api") if entry.kind in ("toxic", "link_down") else None
    if isinstance(api, str) and _nothing_listens(api):
        return (
            f"nothing listens at {api} any more, and a proxy holds its toxics and "
            "disabled links only while it runs"
        )
    return None


def _nothing_listens(url: str) -> bool:
    """True only for a refused connection: a timeout (a paused proxy) may still hold faults."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except (OSError, ValueError):
        return False


def _kept_or_given_up(ledger: Ledger, entry: LedgerEntry, exc: Exception, label: str) -> str:
    failures = ledger.count_failed_reset(entry.id)
    age = time.time() - entry.applied_at
    if failures >= MAX_FAILED_RESETS and age >= MIN_AGE_TO_GIVE_UP:
        ledger.remove(entry.id)
        return (
            f"{FAILED} to heal {label}{entry.description}: {exc} (dropped after {failures} "
            f"resets over {age / 60:.0f} min could not heal it: if its target comes back, "
            "undo this by hand)"
        )
    return (
        f"{FAILED} to heal {label}{entry.description}: {exc} "
        f"(kept for the next reset; failed {failures} of at least {MAX_FAILED_RESETS})"
    )


def restore_stack(stack: RunningStack) -> list[str]:
    """The stack's own servers running and unpaused (a SIGKILLed proxy started again, from
    its config, on its port), before any entry is healed through them."""
    done = []
    for service in stack.services.values():
        if service.is_paused() or not service.is_running():
            try:
                done.append(restore_service(service))
            except ChaosError as exc:
                done.append(f"{FAILED} to restore the stack's {service.name}: {exc}")
    return done
