"""1,000 connections at once through one proxy, on the fast and the general path: every
checksummed payload comes back intact, and the file descriptors return to baseline."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random

import pytest

from chaoslib.wait import wait_until

# The data plane: every test runs on the proxy's fast path and its general path.
pytestmark = pytest.mark.both_paths

CONNECTIONS = 1000
PAYLOAD = 16 * 1024


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def one(port: int, seed: int) -> bool:
    payload = random.Random(seed).randbytes(PAYLOAD)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        received = await reader.readexactly(len(payload))
        return hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    finally:
        writer.close()
        await writer.wait_closed()


async def echo_server() -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, backlog=2048)


def test_a_thousand_connections_carry_checksummed_payloads_intact(client, proxy_server):
    def links() -> int:
        return proxy_server.call(
            lambda: len(proxy_server.server.collection.get("many").connections)
        )

    async def run() -> tuple[list[bool], int, int]:
        server = await echo_server()
        port = server.sockets[0].getsockname()[1]
        proxy = await asyncio.to_thread(client.create_proxy, "many", upstream=f"127.0.0.1:{port}")
        try:
            baseline = open_fds()  # this process holds the proxy, the echo and the clients
            results = await asyncio.gather(
                *(one(proxy.listen_port, seed) for seed in range(CONNECTIONS))
            )
            await asyncio.to_thread(
                wait_until,
                lambda: links() == 0 and open_fds() <= baseline,
                timeout=10,
                what=f"the proxy's links closed and file descriptors back to {baseline}",
            )
            return results, baseline, open_fds()
        finally:
            server.close()
            await server.wait_closed()

    results, baseline, after = asyncio.run(run())
    assert results.count(True) == CONNECTIONS
    assert after <= baseline


def test_the_path_under_test_is_the_one_the_fixture_names(client, proxy_server, echo_server):
    import socket

    proxy = client.create_proxy("echo", upstream=echo_server.address)
    with socket.create_connection(("127.0.0.1", proxy.listen_port), timeout=5) as sock:
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        fast = proxy_server.call(
            lambda: [
                link.up.fast for link in proxy_server.server.collection.get("echo").connections
            ]
        )
    assert fast == [not proxy_server.general_path]
