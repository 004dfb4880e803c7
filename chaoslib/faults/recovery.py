"""Healing faults left by a run that died, as ``chaos.reset`` does it
(:mod:`chaoslib.target.reset` puts it together over the stacks and projects it finds).

This module only dispatches: each fault module registers how to heal the ledger entries
its faults write (:func:`chaoslib.faults.ledger.register_healer`), and
:func:`heal_entry` calls the healer of the entry's kind. The healers act on the ledger only (what chaoslib applied), never on anything else. Every
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
from urllib.parse import urlsplit

from loguru import logger

# Imported for what they register: each fault module registers the healer of the ledger
# entries its faults write, so that every kind is known wherever heal_entry is called.
import chaoslib.faults.network  # noqa: F401  toxic, link_down
import chaoslib.faults.network_disconnect  # noqa: F401  network
import chaoslib.faults.packet  # noqa: F401  packet
from chaoslib.errors import ChaosError
from chaoslib.faults.ledger import (
    HealError,
    Ledger,
    LedgerEntry,
    LedgerError,
    RunningStack,
    healer_for,
    registered_kinds,
)
from chaoslib.faults.service import restore_service  # also registers: service

FAILED = "FAILED"
MAX_FAILED_RESETS = 3
# A proxy paused or restarting answers again within minutes; three resets over ten
# minutes that could not reach it mean it is not coming back as it was.
MIN_AGE_TO_GIVE_UP = 600.0


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
