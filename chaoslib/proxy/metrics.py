"""``/metrics``: Toxiproxy's byte counters in Prometheus text, counted live."""

from __future__ import annotations

import asyncio

from chaoslib.proxy.collection import ProxyCollection

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
            f'chaoslib_proxy_connections{{proxy="{_label(proxy.name)}"}} {len(proxy.links)}'
        )
    lines += [
        "# HELP chaoslib_proxy_refused_total Connections closed at once: -max-connections were open",
        "# TYPE chaoslib_proxy_refused_total counter",
    ]
    for proxy in collection.proxies.values():
        lines.append(
            f'chaoslib_proxy_refused_total{{proxy="{_label(proxy.name)}"}} {proxy.refused}'
        )
    tasks = len(asyncio.all_tasks(collection.loop))
    lines += [
        "# HELP chaoslib_asyncio_tasks Tasks alive on the server's event loop",
        "# TYPE chaoslib_asyncio_tasks gauge",
        f"chaoslib_asyncio_tasks {tasks}",
    ]
    return lines
