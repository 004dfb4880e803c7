"""The smallest TCP forwarders, as a ceiling to compare chaoslib's proxy with.

    python benchmarks/bare_proxy.py LISTEN_PORT UPSTREAM_PORT [--mode uvloop|splice]

- ``uvloop``: accept, connect, and write each chunk read on one side to the
  other, with pause/resume for backpressure. No API, no toxics, no counters:
  what any asyncio proxy costs on this machine.
- ``splice``: a thread per direction moving bytes socket → pipe → socket with
  ``os.splice`` (Linux), so they never enter user space: the zero-copy option
  the performance issue asked to consider.

Not a product; the benchmarks start it beside chaoslib to show what limits a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import socket
import threading

F_SETPIPE_SZ = 1031
SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_MORE", 4)


class Side(asyncio.Protocol):
    def __init__(self, peer: Side | None = None) -> None:
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.early: list[bytes] = []  # uvloop may deliver data despite pause_reading

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        if self.peer is None:  # the client side: open the upstream first
            transport.pause_reading()
            asyncio.get_running_loop().create_task(self._connect())
        elif self.peer.transport.is_closing():  # type: ignore[union-attr]
            transport.close()  # the client left while we connected
        else:
            self.peer.peer = self
            for data in self.peer.early:
                transport.write(data)
            self.peer.transport.resume_reading()  # type: ignore[union-attr]

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: Side(self), "127.0.0.1", UPSTREAM)
        except OSError:
            self.transport.close()  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.early.append(data)
        else:
            self.peer.transport.write(data)  # type: ignore[union-attr]

    def eof_received(self) -> None:
        target = self.peer.transport if self.peer is not None else self.transport
        target.close()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    def pause_writing(self) -> None:
        self.peer.transport.pause_reading()  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.peer.transport.resume_reading()  # type: ignore[union-attr]


def serve_uvloop(listen: int) -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Side, "127.0.0.1", listen)
        print("listening", flush=True)
        await server.serve_forever()

    uvloop.run(main())


def _splice(src: socket.socket, dst: socket.socket) -> None:
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, F_SETPIPE_SZ, 1 << 20)
        while n := os.splice(src.fileno(), write_end, 1 << 20, flags=SPLICE_FLAGS):
            while n:
                n -= os.splice(read_end, dst.fileno(), n, flags=SPLICE_FLAGS)
    except OSError:
        pass
    finally:
        os.close(read_end)
        os.close(write_end)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def serve_splice(listen: int) -> None:
    server = socket.create_server(("127.0.0.1", listen), backlog=1024)
    print("listening", flush=True)
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", UPSTREAM))
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_splice, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_splice, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("listen", type=int)
    parser.add_argument("upstream", type=int)
    parser.add_argument("--mode", choices=("uvloop", "splice"), default="uvloop")
    args = parser.parse_args()
    UPSTREAM = args.upstream
    (serve_splice if args.mode == "splice" else serve_uvloop)(args.listen)
