"""Running the proxy server: on a background thread in-process, or as its own process."""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
from pathlib import Path
from typing import Any

from aiohttp import web
from loguru import logger

from chaoslib.errors import ChaosError
from chaoslib.proxy.api import make_app
from chaoslib.proxy.collection import ProxyCollection
from chaoslib.proxy.errors import ApiError
from chaoslib.proxy.limits import Limits


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def load_config(path: str | Path) -> list[dict[str, Any]]:
    """A populate-format file; each proxy may list ``toxics`` (applied, unlike Toxiproxy)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ChaosError(f"cannot read config {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ChaosError(f"config {path} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ChaosError(
            f"config {path} must be a JSON array of proxies (Toxiproxy's populate format)"
        )
    return data


class Server:
    """The API and all proxies, on one event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        seed: int | None = None,
        *,
        general_path: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(8), "big")
        self.limits = limits or Limits()
        self.collection = ProxyCollection(
            loop, random.Random(self.seed), general_path=general_path, limits=self.limits
        )
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def apply_config(self, items: list[dict[str, Any]], source: str = "config") -> None:
        proxies = [
            {k: v for k, v in item.items() if k != "toxics"} if isinstance(item, dict) else item
            for item in items
        ]
        try:
            async with self.collection.lock:
                await self.collection.populate(proxies)
                for item in items:
                    for toxic in item.get("toxics") or []:
                        self.collection.get(item["name"]).toxics.add(toxic)
        except ApiError as exc:
            raise ChaosError(f"{source}: {exc.message}") from None

    async def start(self, host: str, port: int) -> None:
        # The keep-alive timer also runs from accept to the first request, so a client that
        # connects and never finishes its headers (slowloris) is cut off by it too.
        self.runner = web.AppRunner(
            make_app(self.collection),
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.limits.client_timeout,
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        logger.info("proxy API listening on http://{}:{} (seed {})", host, self.port, self.seed)

    async def close(self) -> None:
        self.collection.close()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class ProxyServer:
    """The embedded server on a background thread with its own loop.

    ``start()`` returns once the API accepts requests (or raises why it could
    not); ``close()`` is idempotent and closes every listener and connection.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int | None = None,
        config: str | Path | list[dict[str, Any]] | None = None,
        start_timeout: float = 10.0,
        general_path: bool = False,
        limits: Limits | None = None,
    ) -> None:
        """``general_path`` sends every chunk through the toxic pump even with no toxic,
        so tests can prove both paths forward alike (never needed in use)."""
        self.general_path = general_path
        self.limits = limits
        self.host = host
        self.port = port
        self.seed = seed
        self.config = config
        self.start_timeout = start_timeout
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ProxyServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="chaoslib-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            raise ChaosError(f"the proxy server did not start within {self.start_timeout:g}s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = self._loop = new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = self.server = Server(
            asyncio.get_running_loop(),
            self.seed,
            general_path=self.general_path,
            limits=self.limits,
        )
        try:
            if self.config is not None:
                items = self.config if isinstance(self.config, list) else load_config(self.config)
                await server.apply_config(items)
            await server.start(self.host, self.port)
            self.port = server.port
        except BaseException as exc:  # reported to the starting thread
            self._error = exc if isinstance(exc, ChaosError) else ChaosError(f"proxy server: {exc}")
            await server.close()
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await server.close()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop and return its result (for tests and tools)."""
        assert self._loop is not None

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(10)

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
