"""All proxies of a server: create, update, delete, populate and reset, as Toxiproxy does."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from chaoslib.proxy.addresses import parse_listen, parse_upstream, resolve_host
from chaoslib.proxy.errors import ApiError, bad_request, conflict, not_found
from chaoslib.proxy.limits import Limits
from chaoslib.proxy.proxy import Proxy
from chaoslib.proxy.strings import check_address, check_name


class PopulateError(ApiError):
    """A /populate failure; ``proxies`` holds what was processed before it (None: validation)."""

    def __init__(self, error: ApiError, proxies: list[Proxy] | None) -> None:
        super().__init__(error.message, error.status)
        self.proxies = proxies


def _field(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise bad_request(
            f"bad request body: {key} must be a {kind.__name__}, got {type(value).__name__}"
        )
    return value


class ProxyCollection:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
        *,
        general_path: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.loop = loop
        self.rng = rng
        self.limits = limits or Limits()
        self.general_path = general_path
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()  # API calls change the collection one at a time

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise not_found("proxy") from None

    @staticmethod
    def _parse(body: Any, suffix: str = "") -> tuple[str, str, str, bool]:
        if not isinstance(body, dict):
            raise bad_request("bad request body: expected a JSON object")
        name = _field(body, "name", str, "")
        upstream = _field(body, "upstream", str, "")
        listen = _field(body, "listen", str, "")
        enabled = _field(body, "enabled", bool, True)
        if not name:
            raise bad_request(f"missing required field: name{suffix}")
        check_name(name, "proxy name", suffix)
        if not upstream:
            raise bad_request(f"missing required field: upstream{suffix}")
        check_address(upstream, "upstream", suffix)
        check_address(listen, "listen", suffix)
        return name, listen, upstream, enabled

    def _new(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        proxy = Proxy(
            name,
            listen,
            upstream,
            enabled=enabled,
            loop=self.loop,
            rng=self.rng,
            limits=self.limits,
        )
        proxy.general_path = self.general_path
        return proxy

    async def create(self, body: Any) -> Proxy:
        name, listen, upstream, enabled = self._parse(body)
        if name in self.proxies:
            raise conflict("proxy")
        self._check_room(1)
        proxy = self._new(name, listen, upstream, enabled)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    def _check_room(self, new: int) -> None:
        cap = self.limits.max_proxies
        if len(self.proxies) + new > cap:
            raise bad_request(
                f"too many proxies: {len(self.proxies)} exist and {new} more would pass "
                f"the cap of {cap} (-max-proxies); delete some or raise the cap"
            )

    async def update(self, name: str, body: Any) -> Proxy:
        """PATCH: missing fields keep their values; a new listen or upstream restarts the proxy."""
        proxy = self.get(name)
        if not isinstance(body, dict):
            raise bad_request("bad request body: expected a JSON object")
        listen = _field(body, "listen", str, proxy.listen) or proxy.listen
        upstream = _field(body, "upstream", str, proxy.upstream) or proxy.upstream
        enabled = _field(body, "enabled", bool, proxy.enabled)
        check_address(upstream, "upstream")
        check_address(listen, "listen")
        parse_listen(listen)
        parse_upstream(upstream)
        if upstream != proxy.upstream or not _same_listen(proxy.listen, listen):
            proxy.stop()
            proxy.set_upstream(upstream)
            proxy.listen = listen
        if enabled:
            try:
                await proxy.start()
            except ApiError:
                proxy.enabled = False
                raise
        else:
            proxy.stop()
            proxy.enabled = False
        return proxy

    def delete(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        del self.proxies[name]

    async def populate(self, body: Any) -> list[Proxy]:
        """Create or replace many proxies; equal ones are left untouched, toxics included."""
        if not isinstance(body, list):
            raise PopulateError(
                bad_request("bad request body: expected a JSON array of proxies"), None
            )
        parsed = []
        for index, item in enumerate(body, start=1):
            try:
                parsed.append(self._parse(item, f" at proxy {index}"))
            except ApiError as exc:
                raise PopulateError(exc, None) from None
        try:
            self._check_room(len({p[0] for p in parsed} - set(self.proxies)))
        except ApiError as exc:
            raise PopulateError(exc, None) from None
        done: list[Proxy] = []
        for name, listen, upstream, enabled in parsed:
            try:
                done.append(await self._add_or_replace(name, listen, upstream, enabled))
            except ApiError as exc:
                raise PopulateError(exc, done) from None
        return done

    async def _add_or_replace(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        old = self.proxies.get(name)
        if old is not None and old.upstream == upstream and _same_listen(old.listen, listen):
            return old
        if old is not None:
            self.delete(name)
        proxy = self._new(name, listen, upstream, enabled)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def reset(self) -> None:
        """Re-enable every proxy, then remove every toxic; stops at the first bind failure."""
        for proxy in self.proxies.values():
            if not proxy.running:
                await proxy.start()
            proxy.toxics.clear()

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()


def _same_listen(current: str, wanted: str) -> bool:
    try:
        host, port = parse_listen(wanted)
        c_host, c_port = parse_listen(current)
        return (resolve_host(host), port) == (resolve_host(c_host), c_port)
    except ApiError:
        return False
