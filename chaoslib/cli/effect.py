"""Whether a held fault touched what it acted on: match counts, or the probe cut."""

from __future__ import annotations

from dataclasses import dataclass

from chaoslib.faults.base import Fault
from chaoslib.faults.group import FaultGroup
from chaoslib.faults.network import PROTOCOL_TOXICS, Flap, LinkDown, ToxicFault
from chaoslib.observe.history import History

# What a protocol toxic counts, for the message.
UNITS = {"pg_query": "statements", "redis_command": "commands"}


@dataclass(frozen=True)
class Effect:
    """Whether the fault touched what it acted on (None: nothing could show it), and why."""

    touched: bool | None
    evidence: str


def members(fault: Fault) -> list[Fault]:
    return list(fault.members) if isinstance(fault, FaultGroup) else [fault]


def effect_of(
    fault: Fault,
    history: History,
    probe: str,
    applied_at: float,
    healed_at: float,
    *,
    flapping: bool = False,
    own_matches: int = 0,
) -> Effect | None:
    """What proves the fault reached a client: match counts (less ``own_matches``, the
    statements the task itself built to match), or the probe cut while it held."""
    parts = members(fault)
    protocol = [m for m in parts if isinstance(m, ToxicFault) and m.type in PROTOCOL_TOXICS]
    if protocol:
        stats = fault.stats if isinstance(fault, FaultGroup) else protocol[0].stats
        first = protocol[0]
        unit = UNITS[first.type]
        what = first.attributes.get("pattern") or ", ".join(first.attributes.get("commands", []))
        if "matched" not in stats:
            return Effect(False, f"the proxy reported no match counts for {first.type}, so "
                                 "nothing shows the fault touched a client")  # fmt: skip
        matched, passed = stats["matched"] - own_matches, stats.get("passed", 0)
        own = f" (not counting the task's {own_matches} own matching probe {unit})"
        own = own if own_matches else ""
        if matched <= 0:
            return Effect(False, f'0 {unit} matched "{what}" ({passed} passed){own}')
        return Effect(True, f"matched {matched}, passed {passed}{own}")
    if all(isinstance(m, LinkDown | Flap) for m in parts):
        # A probe counts from when it started (its end less its latency): one that got its
        # answer just before the cut may be recorded after it on a busy machine.
        during = [
            e
            for e in history.select(source=probe, kind="probe")
            if applied_at <= e.t - float(e.value or 0) and e.t <= healed_at
        ]
        link = probe.removesuffix(" probe")
        if not during:  # held too briefly for a probe to finish: no fact either way
            return Effect(None, f"no probe through {link} finished while it was down")
        if not any(e.ok is False for e in during):
            return Effect(False, f"the probe through {link} kept answering while it was down")
        answered = [e for e in during if e.ok is True]
        if answered and not flapping and all(isinstance(m, LinkDown) for m in parts):
            # A link down holds for its whole duration (a flap has up windows): an answer
            # while it held means something brought the link back early.
            at = answered[0].t - float(answered[0].value or 0) - applied_at
            return Effect(False, f"the probe through {link} answered {at:.1f}s into the hold: "
                                 "the link did not stay down (something else enabled it)")  # fmt: skip
        return Effect(True, f"the probe through {link} was refused while it was down")
    return None
