"""``invoke stack.*``: start, inspect and stop the embedded stack.

A bad setting or flag exits 2, a stack that cannot start or stop 1; Ctrl-C exits 130 and
SIGTERM 143, after the stack undid what it had started.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator

from invoke import Collection, task
from rich.markup import escape
from rich.table import Table

from chaoslib.cli.output import console, fail, failed, interrupted, print_json, setup
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.faults.signals import Terminated, heal_on_signals
from chaoslib.services import stack as stack_mod

VERBOSE_HELP = "More log output: -v for INFO, -vv for DEBUG (or set CHAOS_LOG_LEVEL)."


def _links_table(stack: stack_mod.Stack) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("link (through the proxy)")
    table.add_column("url", no_wrap=True)
    for name, info in stack.link_urls().items():
        table.add_row(name, info["url"])
    return table


def _services_table(stack: stack_mod.Stack) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("service", "direct url", "state", "pid", "binary"):
        table.add_column(column, no_wrap=column in ("direct url", "binary"))
    for name, info in stack.status()["services"].items():
        state = "paused" if info["paused"] else ("running" if info["running"] else "down")
        colour = {"running": "green", "paused": "yellow", "down": "red"}[state]
        binary = f"{info['source']} {info['version'] or ''}".strip()
        table.add_row(name, info["url"], f"[{colour}]{state}[/]", str(info["pid"] or "-"), binary)
    return table


@contextlib.contextmanager
def _clean_exit(what: str) -> Iterator[None]:
    """Library errors and signals as exit codes, never a traceback. A setting that cannot
    be used (CHAOS_HOME, CHAOS_PG_BINDIR, …) is usage: 2."""
    try:
        with heal_on_signals():  # SIGTERM raises, so a half-started stack is stopped
            yield
    except ChaosError as exc:
        raise failed(exc) from None
    except (KeyboardInterrupt, Terminated) as exc:
        raise interrupted(exc, what) from None


def _show(stack: stack_mod.Stack) -> None:
    console.print(_links_table(stack))
    console.print()
    console.print(_services_table(stack))
    console.print(_timescale_line(stack))
    if stack.proxy_url:
        console.print(f"Proxy API (Toxiproxy-compatible): {stack.proxy_url}")
    if stack.run_dir:
        console.print(f"Logs: {stack.run_dir}")


def _timescale_line(stack: stack_mod.Stack) -> str:
    pg = stack.services.get("postgres")
    if pg is None:
        return ""
    if pg.extra.get("timescaledb"):
        return "TimescaleDB: available (hypertables will be used)"
    return "TimescaleDB: not available (plain tables will be used)"


@task(
    incrementable=["verbose"],
    help={
        "redis_port": "Port for Redis (default: a free port).",
        "postgres_port": "Port for PostgreSQL (default: a free port).",
        "proxy_port": "Port for the proxy API (default: a free port).",
        "persist": "Turn on Redis persistence (append-only file) so restarts keep data.",
        "binaries": "Where server binaries come from: auto (default), system or wheel.",
        "json": "Print the status document as JSON instead of a table.",
        "verbose": VERBOSE_HELP,
    },
)
def up(
    c,
    redis_port=None,
    postgres_port=None,
    proxy_port=None,
    persist=False,
    binaries=None,
    json=False,
    verbose=0,
):
    """Start Redis, PostgreSQL and the proxy locally; print the proxied URLs."""
    setup(verbose)
    config = stack_mod.StackConfig(
        redis_port=_port(redis_port, "--redis-port"),
        postgres_port=_port(postgres_port, "--postgres-port"),
        proxy_port=_port(proxy_port, "--proxy-port"),
        redis_persistence=persist,
        binaries=_binaries(binaries),
    )
    with _clean_exit("what had started was stopped"):
        if not json:
            console.print("Starting the embedded stack…")
        stack, already = stack_mod.up(config)
    if json:
        print_json(stack.status())
        return
    if already:
        console.print("[yellow]The stack is already running.[/] Stop it with: chaos stack.down")
    _show(stack)
    if not already:
        console.print(f"State: {stack.state_path}")
        console.print("Stop everything with: chaos stack.down")


@task(
    incrementable=["verbose"],
    help={
        "json": 'Print {"services": {NAME: {"url", "pid", "running", ...}}} for scripts.',
        "verbose": VERBOSE_HELP,
    },
)
def status(c, json=False, verbose=0):
    """Show each service of the stack: URL, pid, running or not."""
    setup(verbose)
    with _clean_exit("nothing was changed"):
        stack = stack_mod.Stack.load()
    if json:
        print_json(stack.status() if stack else {"services": {}, "links": {}})
        return
    if stack is None:
        console.print(escape(stack_mod.no_stack()))
        return
    _show(stack)


@task(incrementable=["verbose"], help={"verbose": VERBOSE_HELP})
def down(c, verbose=0):
    """Stop every service of the stack, even after a crash (uses .chaos/stack.json)."""
    setup(verbose)
    with _clean_exit("run chaos stack.down again to stop what is left"):
        result = stack_mod.take_down()
    if result is None:
        console.print(escape(stack_mod.no_stack(then="Nothing to stop")))
        return
    stopped, left_alone = result
    console.print(
        f"Stopped: {', '.join(stopped) or 'nothing was still running'}. State file removed."
    )
    for line in left_alone:
        console.print(f"  {escape(line)}")


def _port(value, flag: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 1 <= port <= 65535:
        raise fail(
            ConfigError(f"{flag}={value!r} is not a port; use a whole number from 1 to 65535"), 2
        )
    return port


def _binaries(value) -> str | None:
    if value in (None, ""):
        return None
    from chaoslib.services.binaries import SOURCES

    if value not in SOURCES:
        raise fail(
            ConfigError(f"--binaries={value!r} is not valid; use one of {', '.join(SOURCES)}"), 2
        )
    return value


@task(help={"direct": "Point at the servers directly instead of through the proxy's links."})
def env(c, direct=False):
    """Print shell exports of the stack's URLs: eval "$(invoke stack.env)"."""
    with _clean_exit("nothing was changed"):
        stack = stack_mod.Stack.load()
    if stack is None:
        raise fail(ConfigError(stack_mod.no_stack()), 2)  # as every task that needs one
    key = "upstream" if direct else "url"
    links = stack.link_urls()
    print(f"export REDIS_URL={shlex.quote(links['redis'][key])}")
    print(f"export DATABASE_URL={shlex.quote(links['timescaledb'][key])}")
    print(f"export TOXIPROXY_URL={shlex.quote(stack.proxy_url or '')}")


collection = Collection("stack", up, status, down, env)
