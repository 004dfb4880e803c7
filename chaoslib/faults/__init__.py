"""Fault primitives: every fault is an apply/heal pair recorded in the ledger."""

from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.faults.network import Flap, Link, LinkDown, ToxicFault, partition
from chaoslib.faults.service import Restart, ServiceFault
from chaoslib.faults.signals import Terminated, heal_on_signals

__all__ = [
    "Fault",
    "Flap",
    "Ledger",
    "LedgerEntry",
    "Link",
    "LinkDown",
    "Restart",
    "ServiceFault",
    "Terminated",
    "ToxicFault",
    "heal_on_signals",
    "partition",
]
