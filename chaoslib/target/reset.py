"""``chaos.reset``: heal what a run that died left, on whatever it acted on.

It acts on the ledger only (what chaoslib applied), on the stack a suite started
for itself, and on compose projects chaoslib created; never on anything else. It
finds those (the stack running now, a dead suite's, the created projects) and hands
the fault layer's healers (:mod:`chaoslib.faults.recovery`) the pieces they need.
"""

from __future__ import annotations

from pathlib import Path

from chaoslib.faults.ledger import Ledger
from chaoslib.faults.recovery import FAILED, RunningStack, heal_ledger, restore_stack
from chaoslib.faults.recovery_compose import left_alone, take_down_created
from chaoslib.stack import Stack, down
from chaoslib.state import chaos_home
from chaoslib.toxiproxy import Toxiproxy, ToxiproxyError


def running(stack: Stack | None) -> RunningStack | None:
    """What the healers need of ``stack``: its identity and its servers."""
    return None if stack is None else RunningStack(stack.identity, dict(stack.services))


def reset_all(home: Path | None = None, profile: str | None = None) -> list[str]:
    """Restore the stack's services, then heal every ledger entry, then a dead suite's
    leftovers and the compose projects chaoslib created; with a compose ``profile``,
    report what was left alone."""
    loaded = None
    if profile:
        from chaoslib.profile import load_profile

        loaded = load_profile(profile)
    stack = Stack.load(home)
    now = running(stack)
    done = restore_stack(now) if now is not None else []
    done += heal_ledger(Ledger(home), now)
    proxy = stack.services.get("toxiproxy") if stack is not None else None
    if stack is not None and stack.proxy_url and proxy is not None and proxy.is_running():
        try:
            Toxiproxy(stack.proxy_url, timeout=5).reset()
            done.append("proxy reset: every link enabled, every toxic removed")
        except ToxiproxyError as exc:
            done.append(f"{FAILED} to reset the stack's proxy: {exc}")
    suite_home = chaos_home(home) / "suite"
    if suite_home.exists():
        done += _suite_leftovers(suite_home)
    for where in (chaos_home(home), suite_home):
        done += take_down_created(where)
    if loaded is not None and loaded.compose is not None:
        done += left_alone(loaded)
    return done


def _suite_leftovers(home: Path) -> list[str]:
    """A suite that died: its own embedded stack goes (with every fault on it); faults it
    left on anything else (a compose project's links and containers) are healed."""
    own = Stack.load(home)
    done = [f"suite leftovers: {line}" for line in down(home) or []]
    ledger = Ledger(home)
    for entry in ledger.scan()[0]:  # heal_ledger below reports the unreadable ones
        on_own_stack = own is not None and (
            entry.target.get("api") == own.proxy_url
            or (entry.kind == "service" and not entry.target.get("container"))
        )
        if on_own_stack:
            ledger.remove(entry.id)
            done.append(f"suite leftovers: {entry.description}: gone with the suite's own stack")
    return done + heal_ledger(ledger, None, "suite leftovers: ")
