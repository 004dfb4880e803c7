"""``chaos status``: what is faulted now, from the ledger and from the proxy itself.

The ledger says what chaoslib applied, by whom and since when, and whether that run still
lives (a fault whose run is gone stays until ``chaos.reset`` heals it). The proxy says
what really holds: every toxic and every disabled link, each marked chaoslib's when a
ledger entry names it, and not chaoslib's otherwise (a user's own, which no reset touches
without ``--all``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from invoke import task
from rich.markup import escape

from chaoslib.cli.flags import PROFILE, V
from chaoslib.cli.output import console, failed, print_json, setup
from chaoslib.errors import ChaosError
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.toxiproxy.client import Toxiproxy


@dataclass(frozen=True)
class ActiveFault:
    """One ledger entry, as ``status`` shows it."""

    description: str
    kind: str
    acts_on: list[str]  # the links (proxies) or the service it acts on
    pid: int
    alive: bool  # the run that applied it still runs
    since: str  # ISO 8601, UTC
    held_s: float


@dataclass(frozen=True)
class LiveToxic:
    proxy: str
    name: str
    type: str
    stream: str
    attributes: dict[str, Any]
    stats: dict[str, int]
    chaoslib: bool  # a ledger entry names it


@dataclass
class Status:
    ledger: str
    proxy: str | None  # the proxy API looked at; None: none found
    proxy_problem: str | None = None
    faults: list[ActiveFault] = field(default_factory=list)
    toxics: list[LiveToxic] = field(default_factory=list)
    disabled: list[dict[str, Any]] = field(default_factory=list)  # {proxy, chaoslib}
    unreadable: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.faults or self.toxics or self.disabled or self.unreadable)


def _alive(entry: LedgerEntry) -> bool:
    """The pid is alive and is the process that applied the entry (started before it)."""
    try:
        proc = psutil.Process(entry.pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= entry.applied_at + 1
    except (psutil.Error, ValueError):
        return False


def _acts_on(entry: LedgerEntry) -> list[str]:
    target = entry.target
    if "proxies" in target:
        return [str(p) for p in target["proxies"]]
    if "proxy" in target:
        return [str(target["proxy"])]
    named = target.get("service") or target.get("container")
    return [str(named)] if named else []


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _same_api(a: object, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


def collect(ledger: Ledger, api: str | None, problem: str | None = None) -> Status:
    """The ledger's faults and, with ``api``, the proxy's live toxics and disabled links."""
    entries, problems = ledger.scan()
    now = time.time()
    status = Status(str(ledger.path), api, problem, unreadable=[str(p) for p in problems])
    for e in entries:
        status.faults.append(
            ActiveFault(
                e.description,
                e.kind,
                _acts_on(e),
                e.pid,
                _alive(e),
                _iso(e.applied_at),
                round(max(0.0, now - e.applied_at), 1),
            )  # fmt: skip
        )
    if api is None or problem is not None:
        return status
    ours_toxics = {
        (e.target["proxy"], name)
        for e in entries
        if e.kind == "toxic" and _same_api(e.target.get("api"), api)
        for name in e.target.get("toxics", [])
    }
    ours_down = {
        proxy
        for e in entries
        if e.kind == "link_down" and _same_api(e.target.get("api"), api)
        for proxy in e.target.get("proxies", [])
    }
    try:
        proxies = Toxiproxy(api, timeout=5).proxies()
    except ChaosError as exc:
        status.proxy_problem = f"the proxy at {api} did not answer ({exc})"
        return status
    for name, proxy in sorted(proxies.items()):
        if not proxy.enabled:
            status.disabled.append({"proxy": name, "chaoslib": name in ours_down})
        for t in proxy.toxics:
            status.toxics.append(
                LiveToxic(
                    name,
                    t.name,
                    t.type,
                    t.stream,
                    dict(t.attributes),
                    dict(t.stats),
                    (name, t.name) in ours_toxics,
                )  # fmt: skip
            )
    return status


def _proxy_api(profile: str | None, home: Path | None) -> tuple[str | None, str | None, str]:
    """The proxy API to look at, why none could be looked at, and where it was looked for."""
    if profile:
        from chaoslib.target import open_target

        target = open_target(profile, home, force=True)  # looking changes nothing
        return target.toxiproxy.url, None, f"profile {profile}"
    from chaoslib.services.stack import Stack

    stack = Stack.load(home)
    if stack is None:
        return None, None, f"no stack at {Ledger(home).path.parent / 'stack.json'}"
    where = f"the stack in {stack.state_path}"
    proxy = stack.services.get("toxiproxy")
    if proxy is None or not stack.proxy_url:
        return None, None, f"{where}, which has no proxy server"
    if not proxy.is_running():
        return stack.proxy_url, f"its proxy server at {stack.proxy_url} is not running", where
    return stack.proxy_url, None, where


def _print(status: Status, where: str) -> None:
    if status.empty and status.proxy_problem is None:
        looked = f"the ledger {status.ledger}" + (
            f" and the proxy at {status.proxy} ({where})" if status.proxy else f" ({where})"
        )
        console.print(f"Nothing running: no fault in {escape(looked)}")
        return
    console.print(f"Ledger {escape(status.ledger)}: {len(status.faults)} active fault(s)")
    for f in status.faults:
        owner = f"pid {f.pid} running" if f.alive else f"pid {f.pid} gone: left by a dead run"
        console.print(
            f"  {escape(f.description)} ({f.kind}) on {escape(', '.join(f.acts_on) or '?')}; "
            f"{owner}; since {f.since} ({f.held_s:g}s)"
            + ("" if f.alive else " — run chaos.reset to heal it")
        )
    for problem in status.unreadable:
        console.print(f"  [red]unreadable entry:[/] {escape(problem)}")
    if status.proxy_problem:
        console.print(f"Proxy: {escape(status.proxy_problem)}")
        return
    if status.proxy is None:
        console.print(f"Proxy: none to look at ({escape(where)})")
        return
    console.print(
        f"Proxy {escape(status.proxy)}: {len(status.toxics)} toxic(s), "
        f"{len(status.disabled)} disabled link(s)"
    )
    for t in status.toxics:
        whose = "chaoslib's" if t.chaoslib else "not chaoslib's"
        attrs = ", ".join(f"{k}={v}" for k, v in t.attributes.items())
        stats = ", ".join(f"{k} {v}" for k, v in t.stats.items())
        console.print(
            f"  toxic {escape(t.name)} ({t.type}, {t.stream}) on {escape(t.proxy)}: "
            f"{escape(attrs)}" + (f"; {escape(stats)}" if stats else "") + f" — {whose}"
        )
    for d in status.disabled:
        whose = "chaoslib's" if d["chaoslib"] else "not chaoslib's"
        console.print(f"  link {escape(d['proxy'])} disabled — {whose}")


@task(
    incrementable=["verbose"],
    help={
        "json": "Print the status as JSON (ledger, proxy, faults, toxics, disabled).",
        "profile": PROFILE,
        "verbose": V,
    },
)
def status(c, json=False, profile=None, verbose=0):
    """List active faults: the ledger's (owner, alive or left by a dead run, since when) and the proxy's."""
    setup(verbose)
    try:
        api, problem, where = _proxy_api(profile, None)
        found = collect(Ledger(), api, problem)
    except ChaosError as exc:
        raise failed(exc) from None
    if json:
        print_json({**asdict(found), "looked_at": where, "nothing_running": found.empty})
        return
    _print(found, where)


TASKS = [status]
