"""Bytes arrive intact and in order, with and without every non-dropping toxic."""

from __future__ import annotations

import hashlib
import random
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The data plane: every test runs on the proxy's fast path and its general path.
pytestmark = pytest.mark.both_paths

NON_DROPPING = {
    "none": None,
    "noop": {"type": "noop"},
    "latency": {"type": "latency", "attributes": {"latency": 5, "jitter": 3}},
    "bandwidth": {"type": "bandwidth", "attributes": {"rate": 200_000}},
    "slicer": {
        "type": "slicer",
        "attributes": {"average_size": 1500, "size_variation": 500, "delay": 0},
    },
    "slow_close": {"type": "slow_close", "attributes": {"delay": 10}},
    "limit_data_high": {"type": "limit_data", "attributes": {"bytes": 1 << 40}},
}


def transfer(port: int, payload: bytes) -> bytes:
    """Send ``payload`` through an echo and read it back concurrently (both directions busy)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        received = bytearray()
        while len(received) < len(payload):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk
        sender.join()
    return bytes(received)


@pytest.mark.parametrize("toxic", list(NON_DROPPING))
def test_several_megabytes_arrive_with_the_same_sha256(client, echo_server, toxic):
    proxy = client.create_proxy("echo", upstream=echo_server.address)
    spec = NON_DROPPING[toxic]
    if spec:
        for stream in ("upstream", "downstream"):
            client.add_toxic("echo", spec["type"], stream=stream, attributes=spec.get("attributes"))
    payload = random.Random(toxic).randbytes(4_000_000)
    assert (
        hashlib.sha256(transfer(proxy.listen_port, payload)).hexdigest()
        == hashlib.sha256(payload).hexdigest()
    )


def test_rewiring_toxics_on_a_live_transfer_loses_and_reorders_nothing(client, echo_server):
    proxy = client.create_proxy("echo", upstream=echo_server.address)
    payload = random.Random(7).randbytes(8_000_000)
    result: list[bytes] = []
    worker = threading.Thread(target=lambda: result.append(transfer(proxy.listen_port, payload)))
    worker.start()
    rng = random.Random(3)
    while worker.is_alive():
        stream = rng.choice(["upstream", "downstream"])
        kind = rng.choice(["latency", "slicer", "noop", "bandwidth"])
        attrs = {
            "latency": {"latency": 2},
            "slicer": {"average_size": 4096, "delay": 0},
            "noop": {},
            "bandwidth": {"rate": 100_000},
        }[kind]
        toxic = client.add_toxic("echo", kind, stream=stream, attributes=attrs)
        client.remove_toxic("echo", toxic.name)
        worker.join(0.01)
    assert hashlib.sha256(result[0]).digest() == hashlib.sha256(payload).digest()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.binary(min_size=1, max_size=200_000), toxic=st.sampled_from(list(NON_DROPPING)))
def test_random_payloads_arrive_intact(client, echo_server, payload, toxic):
    name = f"echo-{hashlib.md5(payload).hexdigest()[:8]}-{toxic}"
    try:
        proxy = client.create_proxy(name, upstream=echo_server.address)
        spec = NON_DROPPING[toxic]
        if spec:
            client.add_toxic(name, spec["type"], attributes=spec.get("attributes"))
        assert transfer(proxy.listen_port, payload) == payload
    finally:
        client.delete_proxy(name)
