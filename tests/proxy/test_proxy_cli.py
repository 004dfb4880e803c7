"""``python -m chaoslib.proxy`` behaves like toxiproxy-server: flags, -config, clean signals."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest

from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "chaoslib.proxy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_version_flag():
    out = subprocess.run(
        [sys.executable, "-m", "chaoslib.proxy", "-version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and out.stdout.strip() == "2.12.0"


def test_config_file_creates_proxies_and_applies_their_toxics(tmp_path, echo_server):
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps(
            [
                {
                    "name": "echo",
                    "listen": "127.0.0.1:0",
                    "upstream": echo_server.address,
                    "toxics": [{"type": "latency", "attributes": {"latency": 5}}],
                }
            ]
        )
    )
    port = free_port()
    proc = start("-host", "127.0.0.1", "-port", str(port), "-config", str(config), "-seed", "42")
    try:
        assert "API on" in proc.stdout.readline()
        tp = Toxiproxy(f"http://127.0.0.1:{port}", timeout=5)
        proxy = tp.get_proxy("echo")
        assert [t.type for t in proxy.toxics] == ["latency"]
        listen_port = proxy.listen_port
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", listen_port), timeout=2)
    finally:
        proc.kill()


def test_sigint_shuts_down_cleanly():
    port = free_port()
    proc = start("--port", str(port))
    try:
        proc.stdout.readline()
        wait_until(Toxiproxy(f"http://127.0.0.1:{port}", timeout=1).is_running, timeout=10)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def test_bad_config_is_reported_with_the_file_and_reason(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps([{"name": "x", "listen": "127.0.0.1:0"}]))
    proc = start("-port", str(free_port()), "-config", str(config))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert str(config) in err and "missing required field: upstream at proxy 1" in err


def test_port_in_use_is_reported():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start("-port", str(port))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"127.0.0.1:{port}" in err
