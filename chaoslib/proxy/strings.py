"""User strings the API stores and echoes back: what is accepted, and how they are sent.

A stored string is sent back in every later ``GET /proxies``, ``/metrics`` and log line,
so one that cannot be encoded (a lone UTF-16 surrogate such as ``"\\ud800"``, which
JSON can spell but UTF-8 cannot) broke those answers for every client until a restart.
Names and addresses are therefore checked when they come in, and every response is
encoded so that no stored value can ever make it fail (defence in depth).
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from typing import Any

from chaoslib.proxy.errors import bad_request

MAX_NAME = 256
MAX_ADDRESS = 300  # a 253-character hostname, brackets, a colon and a port
NAME_RULE = (
    f"1 to {MAX_NAME} printable characters (letters, digits, punctuation such as _ - . :, "
    "symbols, spaces), no '/', not '.' or '..'"
)
_SURROGATES = re.compile("[\ud800-\udfff]")
_WHY = {
    "Cs": "a lone UTF-16 surrogate, which is not valid Unicode",
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than ' '",
}


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, whatever it holds: a lone surrogate becomes U+FFFD, as Go's encoder does."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text).encode()


def _show(value: str) -> str:
    # repr() escapes surrogates and control characters, so the message itself is safe.
    return repr(value[:40] + "…" if len(value) > 40 else value)


def _unprintable(value: str) -> str | None:
    for position, char in enumerate(value):
        if not char.isprintable():
            why = _WHY.get(unicodedata.category(char), "not printable")
            return f"character {position + 1} ({char!r}) is {why}"
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a proxy or toxic name, or None if it can.

    Toxiproxy takes any string; these are the ones that cannot be addressed in a URL
    path (``/``, the dot segments that clients and servers normalise away) or cannot be
    sent back intact. Every name a real client uses (``redis``, ``pg-primary``,
    ``redis_master``, testcontainers' ``host:port``) is accepted."""
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME:
        return f"it has {len(name)} characters"
    if "/" in name:
        return "it contains '/'"
    if name in (".", ".."):
        return "a dot segment cannot be addressed in a URL"
    return _unprintable(name)


def check_name(name: str, what: str, suffix: str = "") -> None:
    problem = name_problem(name)
    if problem is not None:
        raise bad_request(
            f"{what} {_show(name)} is not accepted{suffix}: {problem}; accepted: {NAME_RULE}"
        )


def check_address(value: str, field: str, suffix: str = "") -> None:
    """A ``host:port`` text the proxy stores, echoes and later resolves or connects to."""
    accepted = (
        f"accepted: host:port of at most {MAX_ADDRESS} printable characters without spaces, "
        "the host an IP address or a hostname, e.g. 127.0.0.1:6379"
    )
    if len(value) > MAX_ADDRESS:
        raise bad_request(f"{field} has {len(value)} characters{suffix}; {accepted}")
    problem = _unprintable(value) or ("it contains a space" if " " in value else None)
    if problem is None:
        host = value.rpartition(":")[0].removeprefix("[").removesuffix("]")
        if host and not _is_ip(host):
            try:
                host.encode("idna")  # what getaddrinfo does with it; fails on a bad label
            except UnicodeError:
                problem = "its host is not a valid hostname (empty or over-long label)"
    if problem is not None:
        raise bad_request(f"{field} {_show(value)} is not accepted{suffix}: {problem}; {accepted}")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def may_hold_surrogates(raw: bytes) -> bool:
    """Whether a JSON text could decode to a lone surrogate: only a ``\\uD800``-``\\uDFFF``
    escape can (UTF-8 bytes cannot encode one), so most bodies skip the walk."""
    return _SURROGATE_ESCAPE.search(raw) is not None


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def check_strings(value: Any) -> None:
    """Refuse a decoded JSON body holding a lone surrogate anywhere (a key or a value).

    JSON can spell one (``"\\ud800"``) and Python decodes it, but it is not Unicode text;
    Toxiproxy silently turns it into U+FFFD. Walked without recursion (the body may be
    nested as deep as the JSON decoder allows); the path to a string is spelled out only
    for the error, so deep bodies with long keys cost linear time."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
        return  # the common case, at C speed: every string encodes
    except (UnicodeEncodeError, RecursionError):
        pass  # find and name the culprit
    stack: list[tuple[Any, _Path]] = [(value, None)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path, key=True)
                if isinstance(child, (str, dict, list)):
                    stack.append((child, (path, key)))
        elif isinstance(item, list):
            stack.extend(
                (child, (path, i))
                for i, child in enumerate(item)
                if isinstance(child, (str, dict, list))
            )


_Path = tuple[Any, "str | int"] | None  # (parent path, key or index), innermost last


def _spell(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, step = path
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return _show("".join(reversed(parts)).removeprefix("."))


def _check_text(text: str, path: _Path, *, key: bool = False) -> None:
    found = _SURROGATES.search(text)
    if found is None:
        return
    if key:
        where = f"a key in {_spell(path)}" if path else "a key"
    else:
        where = _spell(path) if path else "the body"
    raise bad_request(
        f"bad request body: {where} holds a lone UTF-16 surrogate ({found.group()!r}), "
        "which is not valid Unicode; accepted: text that encodes as UTF-8 (a surrogate "
        "escape only as half of a valid pair)"
    )
