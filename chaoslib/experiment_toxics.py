"""An experiment file's link toxic faults (latency, bandwidth, stall, …): their keys, the
proxy's own bounds on their values, and the fault each entry builds on its link."""

from __future__ import annotations

from typing import Any

from chaoslib.faults.base import Fault
from chaoslib.proxy.errors import ApiError
from chaoslib.proxy.toxics import TOXIC_TYPES
from chaoslib.yaml_lines import LineDict, Reader

# link toxic faults: type -> {attribute: required?}
TOXICS = {
    "latency": {"latency": True, "jitter": False},
    "bandwidth": {"rate": True},
    "stall": {},
    "timeout": {"timeout": False},
    "reset_peer": {"timeout": False},
    "slicer": {"average_size": True, "size_variation": False, "delay": False},
    "limit_data": {"bytes": True},
    "slow_close": {"delay": True},
}
# The Link method's positional arguments, in order.
POSITIONAL = {
    "latency": ["latency", "jitter"],
    "bandwidth": ["rate"],
    "timeout": ["timeout"],
    "reset_peer": ["timeout"],
    "slicer": ["average_size", "size_variation", "delay"],
    "limit_data": ["bytes"],
    "slow_close": ["delay"],
}
DIRECTIONS = ("upstream", "downstream", "both")


def read(r: Reader, item: LineDict, kind: str, ctx: str) -> tuple[str, float, dict[str, int]]:
    """``(direction, toxicity, attributes)`` of a link fault entry, as the proxy would judge them."""
    direction = r.get(item, "direction", str, default="downstream", context=ctx, choices=DIRECTIONS)
    toxicity = r.get(item, "toxicity", (int, float), default=1.0, minimum=0, maximum=1, context=ctx)
    attrs = {
        key: r.get(item, key, int, required=need, minimum=0, context=ctx)
        for key, need in TOXICS.get(kind, {}).items()
    }
    attrs = {k: v for k, v in attrs.items() if v is not None}
    # The proxy's own bounds (e.g. latency in ms), checked now: the proxy would refuse
    # them at apply, mid-run.
    toxic = "bandwidth" if kind == "stall" else kind
    if toxic in TOXIC_TYPES:
        try:
            TOXIC_TYPES[toxic].parse_attributes(attrs)
        except ApiError as exc:
            raise r.fail(item, f"{ctx}.{kind}", exc.message) from None
    return direction, toxicity, attrs


def count(item: LineDict) -> int:
    """The toxics a validated link fault entry puts on its link while it holds."""
    kind = item["type"]
    if kind not in TOXICS:
        return 0  # down disables the proxy
    return 2 if item.get("direction") == "both" else 1


def build(target: Any, kind: str, direction: str, toxicity: float, attrs: dict) -> Fault:
    """The fault on ``target`` (a Link)."""
    if kind == "down":
        return target.down()
    if kind == "stall":
        return target.stall(direction=direction, toxicity=toxicity)
    args = [attrs[k] for k in POSITIONAL[kind] if k in attrs]
    return getattr(target, kind)(*args, direction=direction, toxicity=toxicity)
