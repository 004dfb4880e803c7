"""``chaos.reset``: heal what a run that died left, on whatever it acted on.

It acts on what chaoslib applied only: the ledger's entries, toxics named as chaoslib
names its toxics (:data:`OWNED_PREFIX`), the stack a suite started for itself, and the
compose projects chaoslib created. A toxic or a disabled link of the user's is named
and left alone, unless ``everything`` (``chaos.reset --all``) resets the stack's proxy
whole. It finds those (the stack running now, a dead suite's, the created projects)
and hands the fault layer's healers (:mod:`chaoslib.faults.recovery`) the pieces they
need.
"""

from __future__ import annotations

from pathlib import Path

from chaoslib.faults.ledger import Ledger, RunningStack
from chaoslib.faults.recovery import FAILED, heal_ledger, restore_stack
from chaoslib.faults.recovery_compose import left_alone, take_down_created
from chaoslib.services.stack import Stack, down
from chaoslib.state import chaos_home
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError

# Every toxic chaoslib adds is named so (faults.network.ToxicFault, Toxiproxy.supports);
# recovery_compose.left_alone tells a user's toxics from chaoslib's by the same prefix.
OWNED_PREFIX = "chaos_"
ALL_HINT = "chaos.reset --all removes every toxic and enables every link"


def running(stack: Stack | None) -> RunningStack | None:
    """What the healers need of ``stack``: its identity and its servers."""
    return None if stack is None else RunningStack(stack.identity, dict(stack.services))


def reset_all(
    home: Path | None = None, profile: str | None = None, *, everything: bool = False
) -> list[str]:
    """Restore the stack's services, then heal every ledger entry, then what chaoslib left
    on the stack's proxy (all of it with ``everything``), then a dead suite's leftovers
    and the compose projects chaoslib created; with a compose ``profile``, report what
    was left alone."""
    loaded = None
    if profile:
        from chaoslib.profiles import load_profile

        loaded = load_profile(profile)
    stack = Stack.load(home)
    now = running(stack)
    done = restore_stack(now) if now is not None else []
    done += heal_ledger(Ledger(home), now)
    proxy = stack.services.get("toxiproxy") if stack is not None else None
    if stack is not None and stack.proxy_url and proxy is not None and proxy.is_running():
        client = Toxiproxy(stack.proxy_url, timeout=5)
        try:
            done += reset_proxy(client) if everything else sweep_proxy(client)
        except ToxiproxyError as exc:
            done.append(f"{FAILED} to reset the stack's proxy: {exc}")
    suite_home = chaos_home(home) / "suite"
    if suite_home.exists():
        done += _suite_leftovers(suite_home)
    for where in (chaos_home(home), suite_home):
        done += take_down_created(where)
    if loaded is not None and loaded.compose is not None:
        done += left_alone(loaded)
        if everything:  # a project's proxy is the user's stack: never reset whole from here
            done.append(
                f"--all resets only the embedded stack's proxy, not {loaded.compose.project}'s"
            )
    return done


def reset_proxy(client: Toxiproxy) -> list[str]:
    """``--all``: the proxy's own /reset, which knows no owner."""
    client.reset()
    return ["proxy reset (--all): every link enabled, every toxic removed, the user's own included"]


def sweep_proxy(client: Toxiproxy) -> list[str]:
    """Toxics named as chaoslib's removed (a run whose ledger entry is lost left them);
    everything else on the proxy named and left alone.

    Runs after the ledger is healed, so a link still disabled here is not one chaoslib
    recorded: the user's, or one whose entry could not be read (reported above)."""
    done, foreign = [], []
    for name, proxy in sorted(client.proxies().items()):
        for toxic in proxy.toxics:
            if not toxic.name.startswith(OWNED_PREFIX):
                foreign.append(toxic.name)
                continue
            try:
                client.remove_toxic(name, toxic.name)
            except ToxiproxyError as exc:
                if exc.status != 404:  # gone meanwhile: healed
                    raise
            done.append(f"removed {toxic.name} from {name} (named as chaoslib's; no ledger entry)")
        if foreign:
            done.append(
                f"left alone: {name} has toxics chaoslib did not apply ({', '.join(foreign)})"
            )
            foreign = []
        if not proxy.enabled:
            done.append(f"left alone: {name} is disabled, and not by chaoslib")
    if any(line.startswith("left alone") for line in done):
        done.append(f"({ALL_HINT}, the user's own included)")
    return done or ["the stack's proxy holds nothing chaoslib applied"]


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
