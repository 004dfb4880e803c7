"""Parsing and formatting ``host:port`` strings the way Toxiproxy's JSON carries them."""

from __future__ import annotations

import ipaddress
import socket

from chaoslib.proxy.errors import bad_request

DEFAULT_LISTEN_HOST = "127.0.0.1"


def split_host_port(value: str, field: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` to a tuple; 400 naming ``field`` otherwise."""
    if not isinstance(value, str) or ":" not in value:
        raise bad_request(
            f"{field} {value!r} is not an address; expected host:port, e.g. 127.0.0.1:6379"
        )
    host, _, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise bad_request(f"{field} {value!r} has no valid port; accepted: 0 to 65535")
    return host, port


def parse_listen(value: str) -> tuple[str, int]:
    """An empty listen (or empty host) means loopback here, where Toxiproxy binds every interface."""
    if value in ("", None):
        return DEFAULT_LISTEN_HOST, 0
    host, port = split_host_port(value, "listen")
    return host or DEFAULT_LISTEN_HOST, port


def parse_upstream(value: str) -> tuple[str, int]:
    host, port = split_host_port(value, "upstream")
    if not host or port == 0:
        raise bad_request(f"upstream {value!r} needs a host and a port from 1 to 65535")
    return host, port


def format_address(sockname: tuple) -> str:
    host, port = sockname[0], sockname[1]
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def resolve_host(host: str) -> str:
    """A hostname to the IP it binds to, as Toxiproxy reports ``localhost:7070`` as ``127.0.0.1:7070``."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise bad_request(f"listen host {host!r} cannot be resolved: {exc.strerror}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return infos[0][4][0]
