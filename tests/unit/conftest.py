"""tests/unit: no sockets and no processes, so the folder runs in seconds anywhere.

A test here that opens a TCP or UDP socket, or starts a process, fails and says where
it belongs instead. (Local socket pairs stay allowed: an asyncio loop wakes itself
through one.)
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

ELSEWHERE = "it belongs in tests/proxy or tests/e2e"


def _network_guard(real: Callable[..., Any], what: str) -> Callable[..., Any]:
    def guarded(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"a unit test {what} {args[:1]}: {ELSEWHERE}")
        return real(self, *args, **kwargs)

    return guarded


def _refuse_process(self: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> None:
    raise AssertionError(f"a unit test started a process ({args!r}): {ELSEWHERE}")


@pytest.fixture(autouse=True)
def _no_network_and_no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, what in (("connect", "connected to"), ("connect_ex", "connected to"),
                       ("bind", "bound"), ("sendto", "sent to")):  # fmt: skip
        monkeypatch.setattr(socket.socket, name, _network_guard(getattr(socket.socket, name), what))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse_process)
