"""Who may drive the proxy API, and what a slow or greedy client can cost it.

The token is checked for clients off loopback, so these tests reach the server
through the machine's own non-loopback address: the kernel then uses that
address as the source, which is what a client on another machine looks like.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import psutil
import pytest
import requests

from chaoslib.errors import ConfigError
from chaoslib.proxy import ProxyServer
from chaoslib.proxy.limits import Limits
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError
from chaoslib.wait import wait_until

TOKEN = "s3cret-token-for-tests-0123"


def _outside_address() -> str:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    pytest.skip("this machine has no non-loopback IPv4 address to act as a remote client")


@pytest.fixture
def open_server():
    with ProxyServer(host="0.0.0.0", limits=Limits(token=TOKEN)) as server:
        yield server


def _get(host: str, port: int, path: str, **headers: str) -> requests.Response:
    return requests.get(f"http://{host}:{port}{path}", headers=headers, timeout=10)


def test_off_loopback_every_route_but_version_needs_the_token(open_server):
    outside = _outside_address()
    for path in ("/proxies", "/metrics", "/openapi.yaml"):
        denied = _get(outside, open_server.port, path)
        assert denied.status_code == 401, path
        assert denied.headers["WWW-Authenticate"].startswith("Bearer")
        body = json.loads(denied.text)
        assert body["status"] == 401 and "Authorization: Bearer" in body["error"]
        wrong = _get(outside, open_server.port, path, Authorization="Bearer not-the-token")
        assert wrong.status_code == 401
        assert _get(outside, open_server.port, path, Authorization=f"Bearer {TOKEN}").ok
    assert _get(outside, open_server.port, "/version").json() == {"version": "2.12.0"}


def test_writes_off_loopback_without_the_token_change_nothing(open_server):
    outside = _outside_address()
    response = requests.post(
        f"http://{outside}:{open_server.port}/proxies",
        json={"name": "sneaky", "upstream": "127.0.0.1:1"},
        timeout=10,
    )
    assert response.status_code == 401
    with Toxiproxy(open_server.url.replace("0.0.0.0", "127.0.0.1")) as local:
        assert local.proxies() == {}


def test_loopback_clients_need_no_token(open_server):
    with Toxiproxy(f"http://127.0.0.1:{open_server.port}", token="") as local:
        local.create_proxy("mine", "127.0.0.1:1")
        assert list(local.proxies()) == ["mine"]


def test_the_client_sends_the_token_from_its_argument_or_the_environment(open_server, monkeypatch):
    url = f"http://{_outside_address()}:{open_server.port}"
    with Toxiproxy(url, token=TOKEN) as remote:
        assert remote.proxies() == {}
    monkeypatch.setenv("CHAOS_PROXY_TOKEN", TOKEN)
    with Toxiproxy(url) as remote:
        remote.create_proxy("from-env", "127.0.0.1:1")
    monkeypatch.delenv("CHAOS_PROXY_TOKEN")
    with Toxiproxy(url) as remote, pytest.raises(ToxiproxyError) as caught:
        remote.proxies()
    assert caught.value.status == 401


def test_browsers_are_still_refused_even_with_the_token(open_server):
    response = _get(
        "127.0.0.1",
        open_server.port,
        "/proxies",
        **{"User-Agent": "Mozilla/5.0", "Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "kwargs, complaint",
    [
        ({"token": "short"}, "too short"),
        ({"max_proxies": 0}, "max_proxies is 0"),
        ({"max_buffered": -5}, "max_buffered is -5"),
        ({"client_timeout": 0}, "client_timeout is 0"),
    ],
)
def test_unusable_limits_are_refused_with_what_is_accepted(kwargs, complaint):
    with pytest.raises(ConfigError, match=complaint) as caught:
        Limits(**kwargs)
    assert "accepted" in str(caught.value)


def _proxy_process(*flags: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaoslib.proxy", "-port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _started(process: subprocess.Popen[str]) -> int:
    line = process.stdout.readline()  # "chaoslib-proxy: API on http://HOST:PORT"
    assert "API on" in line, process.stderr.read()
    return int(line.rsplit(":", 1)[1])


@pytest.mark.parametrize("with_token", [False, True])
def test_binding_off_loopback_warns_and_says_how_it_is_guarded(with_token, monkeypatch):
    env = dict(__import__("os").environ)
    env.pop("CHAOS_PROXY_TOKEN", None)
    if with_token:
        env["CHAOS_PROXY_TOKEN"] = TOKEN
    process = _proxy_process("-host", "0.0.0.0", env=env)
    try:
        port = _started(process)
        denied = _get(_outside_address(), port, "/proxies")
        assert denied.status_code == (401 if with_token else 200)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "warning: the API listens on 0.0.0.0" in err
    assert ("must send the token" if with_token else "set -token") in err
    assert TOKEN not in err  # the token itself is never printed


def test_a_bad_limit_flag_is_a_usage_error_naming_it():
    result = subprocess.run(
        [sys.executable, "-m", "chaoslib.proxy", "-max-connections", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "max_connections is 0" in result.stderr and "accepted" in result.stderr


# -- slow and idle clients -----------------------------------------------------------


@pytest.fixture
def impatient_server():
    with ProxyServer(limits=Limits(client_timeout=0.5, max_body=1000)) as server:
        yield server


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    sock.settimeout(deadline)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /prox", b"GET /proxies HTTP/1.1\r\nHost: x\r\n"],
    ids=["silent", "half-a-request-line", "headers-never-end"],
)
def test_slowloris_clients_are_cut_off_and_others_still_served(impatient_server, sent):
    port = impatient_server.port
    hogs = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    try:
        for hog in hogs:
            hog.sendall(sent)
        assert _get("127.0.0.1", port, "/version").ok  # served while 50 hang
        started = time.monotonic()
        assert all(_closed_by_server(hog, 5.0) for hog in hogs)
        assert time.monotonic() - started < 5.0
    finally:
        for hog in hogs:
            hog.close()


def test_a_body_that_never_arrives_gets_408_in_toxiproxys_shape(impatient_server):
    with socket.create_connection(("127.0.0.1", impatient_server.port)) as sock:
        sock.sendall(b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{")
        sock.settimeout(5)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body) == {
        "error": "bad request body: not received within 0.5s",
        "status": 408,
    }


def test_a_body_over_the_configured_cap_gets_413_and_nothing_is_created(impatient_server):
    url = f"http://127.0.0.1:{impatient_server.port}"
    big = {"name": "big", "upstream": "127.0.0.1:1", "pad": "x" * 2000}
    response = requests.post(f"{url}/proxies", json=big, timeout=10)
    assert response.status_code == 413
    assert json.loads(response.text) == {
        "error": "bad request body: larger than 1000 bytes",
        "status": 413,
    }
    assert requests.get(f"{url}/proxies", timeout=10).json() == {}


def test_an_idle_keep_alive_connection_is_closed(impatient_server):
    with socket.create_connection(("127.0.0.1", impatient_server.port)) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert _closed_by_server(sock, 5.0)


def test_a_client_session_idle_past_the_cut_off_still_works(impatient_server):
    port = impatient_server.port
    me = psutil.Process()

    def pooled_socket_closed_by_server() -> bool:
        mine = [c for c in me.net_connections("tcp") if c.raddr and c.raddr.port == port]
        return bool(mine) and all(c.status == psutil.CONN_CLOSE_WAIT for c in mine)

    with Toxiproxy(f"http://127.0.0.1:{port}") as tp:
        tp.version()
        wait_until(pooled_socket_closed_by_server, timeout=5, what="the server's idle cut-off")
        assert tp.version() == "2.12.0"  # urllib3 sees the close and opens a new connection
