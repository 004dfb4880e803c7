"""A local HTTP sink that records every delivery: where alerts (Slack payloads) land in tests."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web

from chaoslib.observe.base import Observer
from chaoslib.observe.history import History


class WebhookSink(Observer):
    """``POST`` anything to ``url``; each delivery is an event (value: the JSON body or text)."""

    kind = "delivery"

    def __init__(
        self,
        history: History | None = None,
        *,
        name: str = "webhook",
        host: str = "127.0.0.1",
        port: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, history, **kwargs)
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._done: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.record(True, body, detail=request.path)
        return web.Response(text="ok")

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._receive)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._done = asyncio.Event()
        self._ready.set()
        await self._done.wait()
        await runner.cleanup()

    def run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._ready.set()
            self._loop.close()

    def start(self) -> WebhookSink:
        super().start()
        self._ready.wait(10)
        return self

    def teardown(self) -> None:
        if self._loop is not None and self._done is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._done.set)


def webhook_sink(history: History | None = None, **kwargs: Any) -> WebhookSink:
    return WebhookSink(history, **kwargs)
