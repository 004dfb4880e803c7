"""The unit folder's guard holds: a socket or a process here fails the test."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest


def test_a_tcp_connection_is_refused_with_where_the_test_belongs():
    with socket.socket() as sock, pytest.raises(AssertionError, match="tests/proxy or tests/e2e"):
        sock.connect(("127.0.0.1", 9))


def test_listening_is_refused():
    with socket.socket() as sock, pytest.raises(AssertionError, match="bound"):
        sock.bind(("127.0.0.1", 0))


def test_a_process_is_refused():
    with pytest.raises(AssertionError, match="started a process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_an_event_loop_still_runs():
    result = asyncio.run(asyncio.sleep(0, result=42))  # ok: 0 s runs the loop once, no wait
    assert result == 42
