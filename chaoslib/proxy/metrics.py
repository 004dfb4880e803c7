"""``/metrics``: Toxiproxy's byte counters in Prometheus text, counted live."""

from __future__ import annotations

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
    return "\n".join(lines) + "\n"
