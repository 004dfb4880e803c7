"""``python -m chaoslib.proxy`` / ``chaoslib-proxy``: a drop-in for ``toxiproxy-server``.

Flags are toxiproxy-server's (``-host``, ``-port``, ``-config``, ``-seed``,
``-version``, ``-help``); GNU-style ``--host`` works too. SIGINT and SIGTERM shut it
down cleanly: every listener and connection is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import signal
import sys

from chaoslib.durations import parse_duration
from chaoslib.errors import ChaosError, ConfigError
from chaoslib.log import configure_logging
from chaoslib.proxy.api import TOXIPROXY_VERSION, on_loopback
from chaoslib.proxy.fdlimit import DEFAULT_MAX_CONNECTIONS, FileLimit, raise_open_files_limit
from chaoslib.proxy.limits import TOKEN_ENV, Limits
from chaoslib.proxy.server import Server, load_config, new_event_loop


def _seconds(value: str) -> float:
    """A duration flag's value (``30s``, ``500ms``, bare seconds); argparse reports a refusal."""
    try:
        return parse_duration(value, "-client-timeout")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="chaoslib-proxy",
        description="Toxiproxy-compatible proxy server (API: Toxiproxy 2.12.0).",
        # argparse's own -h reads "-help" as "-h elp" and exits 2; toxiproxy-server (Go's
        # flag package) takes -help, -h and --help alike, prints the usage and exits 0.
        add_help=False,
    )
    parser.add_argument("-h", "-help", "--help", action="help", help="print this usage and exit")
    parser.add_argument(
        "-host",
        "--host",
        default="127.0.0.1",
        help="address for the API to listen on (default 127.0.0.1; Toxiproxy: localhost)",
    )
    parser.add_argument(
        "-port", "--port", type=int, default=8474, help="port for the API (default 8474)"
    )
    parser.add_argument(
        "-config",
        "--config",
        default=None,
        help="JSON file of proxies in /populate format; their toxics are applied too",
    )
    parser.add_argument(
        "-seed",
        "--seed",
        type=int,
        default=None,
        help="seed for every random choice (toxicity, jitter, slicer), for repeatable runs",
    )
    parser.add_argument(
        "-proxy-metrics",
        "--proxy-metrics",
        action="store_true",
        help="accepted for compatibility; /metrics is always served",
    )
    parser.add_argument(
        "-runtime-metrics",
        "--runtime-metrics",
        action="store_true",
        help="accepted for compatibility",
    )
    parser.add_argument(
        "-version", "--version", action="store_true", help="print the version and exit"
    )
    defaults = Limits()
    parser.add_argument(
        "-token",
        "--token",
        default=Limits.token_from_env(),
        help=f"bearer token API clients not on loopback must send (default ${TOKEN_ENV}); "
        "/version stays open",
    )
    for flag, field, unit in (
        ("max-proxies", "max_proxies", "proxies"),
        ("max-toxics", "max_toxics", "toxics per proxy"),
        ("max-buffered", "max_buffered", "bytes held per connection direction"),
        ("max-body", "max_body", "bytes of an API request body"),
    ):
        parser.add_argument(
            f"-{flag}",
            f"--{flag}",
            type=int,
            default=getattr(defaults, field),
            dest=field,
            help=f"cap: {unit} (default {getattr(defaults, field)})",
        )
    parser.add_argument(
        "-max-connections",
        "--max-connections",
        type=int,
        default=None,
        dest="max_connections",
        help=f"cap: open client connections per proxy (default {DEFAULT_MAX_CONNECTIONS}, "
        "or fewer if the open-files limit, raised to its hard limit at start, "
        "has no room for them: 2 files each)",
    )
    parser.add_argument(
        "-client-timeout",
        "--client-timeout",
        type=_seconds,
        default=defaults.client_timeout,
        help="how long an API client may idle or take to send a request: 500ms, 30s, 2m "
        f"or bare seconds (default {defaults.client_timeout:g})",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"-port {args.port} is not a port; use 0 to 65535")
    try:
        args.limits = Limits(
            max_proxies=args.max_proxies,
            max_toxics=args.max_toxics,
            # (Validated now; a default is derived from the open-files limit at start.)
            max_connections=(
                DEFAULT_MAX_CONNECTIONS if args.max_connections is None else args.max_connections
            ),
            max_buffered=args.max_buffered,
            max_body=args.max_body,
            client_timeout=args.client_timeout,
            token=args.token or None,
        )
    except ConfigError as exc:
        parser.error(str(exc))
    return args


def fit_to_open_files(args: argparse.Namespace) -> FileLimit:
    """Raise the open-files limit, and derive ``-max-connections`` from it unless it was set."""
    files = raise_open_files_limit()
    if args.max_connections is None:
        derived = min(DEFAULT_MAX_CONNECTIONS, files.connections)
        args.limits = dataclasses.replace(args.limits, max_connections=derived)
    return files


async def serve(args: argparse.Namespace, files: FileLimit | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = Server(loop, args.seed, limits=args.limits)
    try:
        if args.config:
            await server.apply_config(load_config(args.config), source=args.config)
        await server.start(args.host, args.port)
        if args.host != "localhost" and not on_loopback(args.host):
            guard = (
                "clients off loopback must send the token"
                if args.limits.token
                else f"anyone who can reach it can inject faults; set -token or ${TOKEN_ENV}"
            )
            print(
                f"warning: the API listens on {args.host}, reachable from other machines: {guard}",
                file=sys.stderr,
            )
        print(f"chaoslib-proxy: API on http://{args.host}:{server.port}", flush=True)
        if files is not None:
            origin = "derived" if args.max_connections is None else "set"
            print(
                f"chaoslib-proxy: {files.describe()}; "
                f"-max-connections {args.limits.max_connections} ({origin})",
                flush=True,
            )
        # What exists now (modules, the app) lives as long as the process: keep it out of
        # the collector's full passes, which otherwise stall every connection ~40 ms.
        gc.freeze()
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.version:
        print(TOXIPROXY_VERSION)
        return 0
    configure_logging(args.verbose)
    files = fit_to_open_files(args)
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(args, files))
    except ChaosError as exc:
        print(f"chaoslib-proxy: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"chaoslib-proxy: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
