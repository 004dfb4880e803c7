"""A :class:`~chaoslib.target.base.Target` on the embedded stack: the one that runs now."""

from __future__ import annotations

from pathlib import Path

from chaoslib.errors import ConfigError
from chaoslib.services.stack import Stack, no_stack
from chaoslib.target.base import Target


def running_stack(home: Path | None = None) -> Stack:
    """The stack ``invoke stack.up`` started in ``home``, every server of it running."""
    stack = Stack.load(home)
    if stack is None or not stack.proxy_url:
        raise ConfigError(no_stack(home))
    if not stack.all_running():
        down = [name for name, s in stack.services.items() if not s.is_running()]
        raise ConfigError(
            f"the stack is not healthy ({', '.join(down)} not running). "
            "Run chaos reset, or chaos stack.down and stack.up"
        )
    return stack


def local_target(stack: Stack, profile_links: dict | None = None) -> Target:
    """:meth:`Target.from_stack`: the stack's links, servers and direct URLs."""
    return Target.from_stack(stack, profile_links)
