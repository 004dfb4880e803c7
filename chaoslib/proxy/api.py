"""The HTTP API: Toxiproxy 2.12.0's endpoints, status codes, bodies and headers (aiohttp)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from chaoslib.proxy import metrics
from chaoslib.proxy.collection import PopulateError, ProxyCollection
from chaoslib.proxy.errors import ApiError, bad_request
from chaoslib.proxy.limits import Limits
from chaoslib.proxy.strings import check_strings, may_hold_surrogates, utf8

TOXIPROXY_VERSION = "2.12.0"
OPENAPI = Path(__file__).with_name("openapi.yaml")
LIMITS = web.AppKey("limits", Limits)
CHANGES = frozenset({"POST", "PATCH", "DELETE"})
OPEN_PATHS = frozenset({"/version"})  # answered without a token: how a client finds a proxy
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    # utf8(): whatever was stored, this answer (and every later one) can be sent.
    return web.Response(
        body=utf8(json.dumps(data, separators=(",", ":"), ensure_ascii=False)),
        status=status,
        content_type="application/json",
    )


def _error(message: str, status: int) -> web.Response:
    # Go's http.Error: JSON text, but sent as text/plain with nosniff and a newline.
    body = json.dumps({"error": message, "status": status}, separators=(",", ":")) + "\n"
    response = web.Response(
        body=utf8(body), status=status, content_type="text/plain", charset="utf-8"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def on_loopback(remote: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False  # a unix socket or unknown peer: not trusted by address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _authorized(request: web.Request, token: str | None) -> bool:
    if token is None or request.path in OPEN_PATHS or on_loopback(request.remote):
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@web.middleware
async def toxiproxy_conventions(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = uuid.uuid4().hex
    limits = request.app[LIMITS]
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        response: web.StreamResponse = web.Response(
            text="User agent not allowed\n", status=403, content_type="text/plain"
        )
    elif not _authorized(request, limits.token):
        response = _error(
            "missing or wrong token: this server was started with one (-token or "
            "CHAOS_PROXY_TOKEN); send it as 'Authorization: Bearer <token>'",
            401,
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="chaoslib-proxy"'
    else:
        try:
            response = await handler(request)
            if request.method in CHANGES:
                # Let the connections a change woke (a removed toxic's held chunks) act on
                # it before the answer goes: a fault's "applied at" or "healed at" is the
                # API's return, and every recovery figure is measured from it.
                await asyncio.sleep(0)
        except PopulateError as exc:
            proxies = None if exc.proxies is None else [p.to_json() for p in exc.proxies]
            response = _json(
                {"error": exc.message, "status": exc.status, "proxies": proxies}, exc.status
            )
        except ApiError as exc:
            response = _error(exc.message, exc.status)
        except web.HTTPNotFound:
            response = web.Response(
                text="404 page not found\n", status=404, content_type="text/plain"
            )
        except web.HTTPMethodNotAllowed as exc:
            # Toxiproxy sends a bare 405; the Allow header is what RFC 9110 asks for.
            response = web.Response(
                status=405, headers={"Allow": ", ".join(sorted(exc.allowed_methods))}
            )
        except web.HTTPRequestEntityTooLarge:
            response = _error(f"bad request body: larger than {limits.max_body} bytes", 413)
    response.headers["X-Toxiproxy-Request-Id"] = request_id
    return response


async def _body(request: web.Request) -> Any:
    limits = request.app[LIMITS]
    try:
        # Headers are bounded by the server's keep-alive timer; the body by this one.
        async with asyncio.timeout(limits.client_timeout):
            raw = await request.read()
    except TimeoutError:
        raise ApiError(
            f"bad request body: not received within {limits.client_timeout:g}s", 408
        ) from None
    if not raw.strip():
        raise bad_request("bad request body: EOF")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"bad request body: {exc}") from None
    if may_hold_surrogates(raw):
        check_strings(body)
    return body


class Api:
    def __init__(self, collection: ProxyCollection) -> None:
        self.proxies = collection

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/proxies", self.list_proxies),
            web.post("/proxies", self.create_proxy),
            web.post("/populate", self.populate),
            web.get("/proxies/{proxy}", self.show_proxy),
            web.post("/proxies/{proxy}", self.update_proxy),
            web.patch("/proxies/{proxy}", self.update_proxy),
            web.delete("/proxies/{proxy}", self.delete_proxy),
            web.get("/proxies/{proxy}/toxics", self.list_toxics),
            web.post("/proxies/{proxy}/toxics", self.create_toxic),
            web.get("/proxies/{proxy}/toxics/{toxic}", self.show_toxic),
            web.post("/proxies/{proxy}/toxics/{toxic}", self.update_toxic),
            web.patch("/proxies/{proxy}/toxics/{toxic}", self.update_toxic),
            web.delete("/proxies/{proxy}/toxics/{toxic}", self.delete_toxic),
            web.post("/reset", self.reset),
            web.get("/version", self.version),
            web.get("/metrics", self.metrics),
            web.get("/openapi.yaml", self.openapi),
        ]

    async def list_proxies(self, request: web.Request) -> web.Response:
        return _json({name: p.to_json() for name, p in self.proxies.proxies.items()})

    async def create_proxy(self, request: web.Request) -> web.Response:
        body = await _body(request)
        async with self.proxies.lock:
            proxy = await self.proxies.create(body)
        return _json(proxy.to_json(), 201)

    async def populate(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            raise PopulateError(exc, None) from None
        async with self.proxies.lock:
            done = await self.proxies.populate(body)
        return _json({"proxies": [p.to_json() for p in done]}, 201)

    async def show_proxy(self, request: web.Request) -> web.Response:
        return _json(self.proxies.get(request.match_info["proxy"]).to_json())

    async def update_proxy(self, request: web.Request) -> web.Response:
        name = request.match_info["proxy"]
        self.proxies.get(name)
        body = await _body(request)
        async with self.proxies.lock:
            proxy = await self.proxies.update(name, body)
        return _json(proxy.to_json())

    async def delete_proxy(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            self.proxies.delete(request.match_info["proxy"])
        return web.Response(status=204)

    async def list_toxics(self, request: web.Request) -> web.Response:
        proxy = self.proxies.get(request.match_info["proxy"])
        return _json([t.to_json() for t in proxy.toxics.all()])

    # A handler that awaits (the body, the lock) looks its proxy up again under the lock:
    # the proxy it found first may have been deleted, or replaced by a new one of that
    # name, meanwhile. The first look-up only keeps Toxiproxy's 404-before-body order.
    async def create_toxic(self, request: web.Request) -> web.Response:
        name = request.match_info["proxy"]
        self.proxies.get(name)
        body = await _body(request)
        async with self.proxies.lock:
            toxic = self.proxies.get(name).toxics.add(body)
        return _json(toxic.to_json())

    async def show_toxic(self, request: web.Request) -> web.Response:
        proxy = self.proxies.get(request.match_info["proxy"])
        return _json(proxy.toxics.find(request.match_info["toxic"]).to_json())

    async def update_toxic(self, request: web.Request) -> web.Response:
        name, toxic_name = request.match_info["proxy"], request.match_info["toxic"]
        self.proxies.get(name).toxics.find(toxic_name)
        body = await _body(request)
        async with self.proxies.lock:
            toxic = self.proxies.get(name).toxics.update(toxic_name, body)
        return _json(toxic.to_json())

    async def delete_toxic(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            proxy.toxics.remove(request.match_info["toxic"])
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            await self.proxies.reset()
        return web.Response(status=204)

    async def version(self, request: web.Request) -> web.Response:
        return web.Response(
            body=f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode(),
            headers={"Content-Type": "application/json;charset=utf-8"},
        )

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=utf8(metrics.render(self.proxies)), content_type="text/plain", charset="utf-8"
        )

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=OPENAPI.read_bytes(), content_type="application/yaml")


def make_app(collection: ProxyCollection) -> web.Application:
    limits = collection.limits
    app = web.Application(middlewares=[toxiproxy_conventions], client_max_size=limits.max_body)
    app[LIMITS] = limits
    app.add_routes(
        web.RouteDef(r.method, _any_segment(r.path), r.handler, r.kwargs)
        for r in Api(collection).routes()
    )
    return app


def _any_segment(path: str) -> str:
    # aiohttp's {proxy} matches [^{}/]+, Toxiproxy's (gorilla/mux) [^/]+: without this a
    # name with a brace could be created but never be shown, changed or deleted.
    return re.sub(r"\{(\w+)\}", r"{\1:[^/]+}", path)
