"""``/metrics``: Toxiproxy's byte counters in Prometheus text, counted live."""

from __future__ import annotations

import asyncio

from chaoslib.proxy.collection import ProxyCollection
from chaoslib.proxy.fdlimit import BUDGET, open_files_limit

_HELP = {
    "received": "The total bytes received from the source",
    "sent": "The total bytes sent to the destination",
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(collection: ProxyCollection) -> str:
    lines: list[str] = []
    for kind in ("received", "sent"):
        metric = f"toxiproxy_proxy_{kind}_bytes_total"
        lines.append(f"# HELP {metric} {_HELP[kind]}")
        lines.append(f"# TYPE {metric} counter")
        for proxy in collection.proxies.values():
            for direction, counters in proxy.counters.items():
                labels = (
                    f'direction="{direction}",listener="{_label(proxy.listen)}",'
                    f'proxy="{_label(proxy.name)}",upstream="{_label(proxy.upstream)}"'
                )
                lines.append(f"{metric}{{{labels}}} {getattr(counters, kind)}")
    lines += _extensions(collection)
    return "\n".join(lines) + "\n"


def _extensions(collection: ProxyCollection) -> list[str]:
    """chaoslib's own gauges (what the soak watches for leaks), after Toxiproxy's."""
    lines = [
        "# HELP chaoslib_proxy_connections Open client connections",
        "# TYPE chaoslib_proxy_connections gauge",
    ]
    for proxy in collection.proxies.values():
        lines.append(
            f'chaoslib_proxy_connections{{proxy="{_label(proxy.name)}"}} {len(proxy.connections)}'
        )
    lines += [
        "# HELP chaoslib_proxy_refused_total Connections reset at once: -max-connections "
        "were open, or the process had no room for their file descriptors",
        "# TYPE chaoslib_proxy_refused_total counter",
    ]
    for proxy in collection.proxies.values():
        lines.append(
            f'chaoslib_proxy_refused_total{{proxy="{_label(proxy.name)}"}} {proxy.refused}'
        )
    lines += [
        "# HELP chaoslib_proxy_max_connections The cap on open client connections "
        "(-max-connections, or derived from the open-files limit)",
        "# TYPE chaoslib_proxy_max_connections gauge",
    ]
    for proxy in collection.proxies.values():
        lines.append(
            f'chaoslib_proxy_max_connections{{proxy="{_label(proxy.name)}"}} '
            f"{proxy.limits.max_connections}"
        )
    lines += [
        "# HELP chaoslib_open_files_limit The process's soft RLIMIT_NOFILE",
        "# TYPE chaoslib_open_files_limit gauge",
        f"chaoslib_open_files_limit {open_files_limit()}",
        "# HELP chaoslib_connection_budget Proxied connections the open-files limit leaves "
        "room for, all proxies together; more are refused",
        "# TYPE chaoslib_connection_budget gauge",
        f"chaoslib_connection_budget {BUDGET.allowed}",
        "# HELP chaoslib_connection_budget_used Proxied connections open, all proxies together",
        "# TYPE chaoslib_connection_budget_used gauge",
        f"chaoslib_connection_budget_used {BUDGET.open}",
    ]
    tasks = len(asyncio.all_tasks(collection.loop))
    lines += [
        "# HELP chaoslib_asyncio_tasks Tasks alive on the server's event loop",
        "# TYPE chaoslib_asyncio_tasks gauge",
        f"chaoslib_asyncio_tasks {tasks}",
    ]
    return lines
