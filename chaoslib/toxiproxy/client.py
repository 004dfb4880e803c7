"""A typed client for any Toxiproxy API: chaoslib's embedded server or a real toxiproxy-server.

Every request has a timeout, the base URL belongs to the instance (not to a
class attribute, as in toxiproxy-python), and a failed call raises
:class:`ToxiproxyError` with the server's own message and status.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from chaoslib.errors import ChaosError

DEFAULT_URL = "http://127.0.0.1:8474"
DEFAULT_TIMEOUT = 10.0
T = TypeVar("T")
_SURROGATES = re.compile("[\ud800-\udfff]")


class ToxiproxyError(ChaosError):
    """The API answered with an error, or gave no usable answer: could not be reached,
    or answered what is not a Toxiproxy answer (status 0)."""

    def __init__(self, message: str, status: int, method: str = "", path: str = "") -> None:
        self.message = message
        self.status = status
        where = f" ({method} {path})" if method else ""
        super().__init__(f"toxiproxy: {message} [status {status}]{where}")


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any] = field(default_factory=dict)
    # What a protocol toxic (pg_query, redis_command) did so far: matched, passed.
    stats: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Toxic:
        return cls(
            name=data["name"],
            type=data["type"],
            stream=data["stream"],
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
            stats=dict(data.get("stats") or {}),
        )


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Proxy:
        return cls(
            name=data["name"],
            listen=data["listen"],
            upstream=data["upstream"],
            enabled=bool(data["enabled"]),
            toxics=tuple(Toxic.from_json(t) for t in data.get("toxics") or []),
        )

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Toxiproxy:
    """``Toxiproxy()`` talks to ``$TOXIPROXY_URL``, else http://127.0.0.1:8474.

    ``token`` (else ``$CHAOS_PROXY_TOKEN``) is sent as a bearer token, for a
    chaoslib proxy that was started with one and is reached from off loopback.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        token: str | None = None,
    ) -> None:
        self.url = (url or os.environ.get("TOXIPROXY_URL") or DEFAULT_URL).rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "chaoslib"
        token = token or os.environ.get("CHAOS_PROXY_TOKEN")
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    # -- plumbing ---------------------------------------------------------------------
    def _call(
        self, method: str, path: str, body: Any = None, *, expect: tuple[int, ...] = (200,)
    ) -> Any:
        try:
            response = self._session.request(
                method, self.url + path, json=body, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ToxiproxyError(f"cannot reach {self.url}: {exc}", 0, method, path) from None
        if response.status_code not in expect:
            raise ToxiproxyError(_error_message(response), response.status_code, method, path)
        if response.status_code == 204 or not response.content:
            return None
        return _decode(response)

    def _get(
        self,
        build: Callable[[Any], T],
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: tuple[int, ...] = (200,),
    ) -> T:
        """``_call``, then ``build`` the typed result; an answer of the wrong shape (not a
        Toxiproxy, or a broken one) is a ToxiproxyError, like any other failed call."""
        data = self._call(method, path, body, expect=expect)
        try:
            return build(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ToxiproxyError(
                f"unexpected answer from {self.url} ({type(exc).__name__}: {exc}): "
                f"{str(data)[:200]!r}",
                0,
                method,
                path,
            ) from None

    @staticmethod
    def _p(name: str) -> str:
        # A lone surrogate cannot be UTF-8; Toxiproxy stored it as U+FFFD, so ask for that.
        return quote(_SURROGATES.sub("\ufffd", name), safe="")

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Toxiproxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- server -----------------------------------------------------------------------
    def version(self) -> str:
        return self._get(lambda data: str(data["version"]), "GET", "/version")

    def is_running(self) -> bool:
        try:
            self.version()
        except ToxiproxyError:
            return False
        return True

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", expect=(204,))

    def metrics(self) -> str:
        return str(self._call("GET", "/metrics"))

    # -- proxies ----------------------------------------------------------------------
    def proxies(self) -> dict[str, Proxy]:
        return self._get(
            lambda data: {name: Proxy.from_json(p) for name, p in data.items()}, "GET", "/proxies"
        )

    def get_proxy(self, name: str) -> Proxy:
        return self._get(Proxy.from_json, "GET", f"/proxies/{self._p(name)}")

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", *, enabled: bool = True
    ) -> Proxy:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return self._get(Proxy.from_json, "POST", "/proxies", body, expect=(201,))

    def populate(self, proxies: list[dict[str, Any]]) -> list[Proxy]:
        return self._get(
            lambda data: [Proxy.from_json(p) for p in data["proxies"]],
            "POST",
            "/populate",
            proxies,
            expect=(201,),
        )

    def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> Proxy:
        body = {
            k: v
            for k, v in {"listen": listen, "upstream": upstream, "enabled": enabled}.items()
            if v is not None
        }
        return self._get(Proxy.from_json, "PATCH", f"/proxies/{self._p(name)}", body)

    def enable(self, name: str) -> Proxy:
        return self.update_proxy(name, enabled=True)

    def disable(self, name: str) -> Proxy:
        """Take the link down: the listener closes and every connection is dropped."""
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{self._p(name)}", expect=(204,))

    # -- toxics -----------------------------------------------------------------------
    def toxics(self, proxy: str) -> list[Toxic]:
        return self._get(
            lambda data: [Toxic.from_json(t) for t in data],
            "GET",
            f"/proxies/{self._p(proxy)}/toxics",
        )

    def get_toxic(self, proxy: str, name: str) -> Toxic:
        path = f"/proxies/{self._p(proxy)}/toxics/{self._p(name)}"
        return self._get(Toxic.from_json, "GET", path)

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        name: str | None = None,
        stream: str | None = None,
        toxicity: float = 1.0,
        attributes: dict[str, Any] | None = None,
    ) -> Toxic:
        """Add a toxic. Without ``stream`` the server picks: downstream, or the one
        stream a protocol toxic accepts (upstream)."""
        body: dict[str, Any] = {
            "type": type,
            "toxicity": toxicity,
            "attributes": attributes or {},
        }
        if stream is not None:
            body["stream"] = stream
        if name:
            body["name"] = name
        return self._get(Toxic.from_json, "POST", f"/proxies/{self._p(proxy)}/toxics", body)

    def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        attributes: dict[str, Any] | None = None,
        toxicity: float | None = None,
    ) -> Toxic:
        """Merge new attribute values (and toxicity) into an existing toxic."""
        body: dict[str, Any] = {"attributes": attributes or {}}
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{self._p(proxy)}/toxics/{self._p(name)}"
        return self._get(Toxic.from_json, "POST", path, body)

    def supports(self, proxy: str, toxic_type: str) -> bool:
        """Whether the server knows ``toxic_type`` (chaoslib's extensions; Toxiproxy does not).

        Asked by adding it with toxicity 0, which never touches a connection."""
        name = f"chaos_supports_{toxic_type}"
        try:
            self.add_toxic(proxy, toxic_type, name=name, toxicity=0)
        except ToxiproxyError as exc:
            if exc.status == 400 and "invalid toxic type" in str(exc):
                return False
            raise
        self.remove_toxic(proxy, name)
        return True

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{self._p(proxy)}/toxics/{self._p(name)}", expect=(204,))


def _decode(response: requests.Response) -> Any:
    """JSON if the body is JSON (Toxiproxy sends some as text/plain), else the text.

    Decoded as UTF-8 with U+FFFD for a byte that is not, so a damaged answer is reported
    as an error of this client rather than crashing it."""
    text = response.content.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _error_message(response: requests.Response) -> str:
    data = _decode(response)
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return response.content.decode("utf-8", "replace").strip() or response.reason or "error"
