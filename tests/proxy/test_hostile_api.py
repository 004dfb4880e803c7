"""Hostile API input (issue 18): strings that cannot be sent back, and requests racing a delete.

Every case is a real HTTP request to a real proxy server. After each rejected one the
API must still answer everyone: ``GET /proxies``, ``/proxies/X`` and ``/metrics`` stay 200.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoslib.errors import ChaosError
from chaoslib.proxy import ProxyServer
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError

UP = "127.0.0.1:1"


class Http:
    """Plain requests to one server (hypothesis prints its arguments: the api fixture's
    catch-all attributes cannot be printed)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "chaoslib-tests"

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=10)

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(self.url + path, timeout=10, **kw)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.url + path, timeout=10)

    def __repr__(self) -> str:
        return f"Http({self.url!r})"


@pytest.fixture
def http(proxy_server):
    client = Http(proxy_server.url)
    yield client
    client.session.close()


def post_raw(api, path: str, raw: str) -> requests.Response:
    """The body exactly as curl -d sends it: JSON text with its \\u escapes as typed."""
    return api.post(path, data=raw.encode(), headers={"Content-Type": "application/json"})


def assert_api_answers(api, proxies: set[str]) -> None:
    listing = api.get("/proxies")
    assert listing.status_code == 200, listing.text
    assert set(listing.json()) == proxies
    for name in proxies:
        assert api.get(f"/proxies/{quote(name, safe='')}").status_code == 200
    assert api.get("/metrics").status_code == 200


def rejected(response: requests.Response, *words: str) -> str:
    assert response.status_code == 400, response.text
    message = json.loads(response.text)["error"]
    assert "accepted" in message, message
    for word in words:
        assert word in message, message
    return message


# -- defect 1: the issue's own requests --------------------------------------------------
def test_a_lone_surrogate_proxy_name_is_a_400_and_the_api_keeps_answering(api):
    response = post_raw(api, "/proxies", '{"name":"\\ud800","upstream":"127.0.0.1:1"}')
    rejected(response, "name", "surrogate")
    assert_api_answers(api, set())
    assert api.post("/reset").status_code == 204
    assert_api_answers(api, set())


def test_a_lone_surrogate_toxic_name_is_a_400_and_the_proxy_stays_readable(api):
    assert api.post("/proxies", json={"name": "X", "upstream": UP}).status_code == 201
    response = post_raw(api, "/proxies/X/toxics", '{"name":"\\udc00","type":"latency"}')
    rejected(response, "name", "surrogate")
    assert api.get("/proxies/X").json()["toxics"] == []
    assert api.get("/proxies/X/toxics").json() == []
    assert_api_answers(api, {"X"})


PROXY_BODIES = {
    "reversed surrogate pair": '{"name":"\\udc00\\ud800","upstream":"127.0.0.1:1"}',
    "surrogate in a longer name": '{"name":"redis\\ud800","upstream":"127.0.0.1:1"}',
    "NUL in name": '{"name":"a\\u0000b","upstream":"127.0.0.1:1"}',
    "newline in name": '{"name":"a\\nb","upstream":"127.0.0.1:1"}',
    "DEL in name": '{"name":"\\u007f","upstream":"127.0.0.1:1"}',
    "zero-width space name": '{"name":"\\u200b","upstream":"127.0.0.1:1"}',
    "line separator in name": '{"name":"a\\u2028b","upstream":"127.0.0.1:1"}',
    "name of 257 characters": json.dumps({"name": "n" * 257, "upstream": UP}),
    "name of 100,000 characters": json.dumps({"name": "n" * 100_000, "upstream": UP}),
    "slash in name": '{"name":"a/b","upstream":"127.0.0.1:1"}',
    "dot name": '{"name":".","upstream":"127.0.0.1:1"}',
    "dot-dot name": '{"name":"..","upstream":"127.0.0.1:1"}',
    "surrogate in upstream": '{"name":"u","upstream":"\\ud800:1"}',
    "newline in upstream": '{"name":"u","upstream":"a\\nb:1"}',
    "space in upstream": '{"name":"u","upstream":"a b:1"}',
    "1000-character upstream": json.dumps({"name": "u", "upstream": "x" * 995 + ":6379"}),
    "surrogate in listen": '{"name":"l","upstream":"127.0.0.1:1","listen":"\\ud800:0"}',
    "empty label in listen": '{"name":"l","upstream":"127.0.0.1:1","listen":"..:0"}',
    "64-char label in listen": json.dumps({"name": "l", "upstream": UP, "listen": "a" * 64 + ":0"}),
    "disabled, surrogate in listen": (
        '{"name":"l","upstream":"127.0.0.1:1","listen":"\\ud800:0","enabled":false}'
    ),
    "surrogate in a key": '{"name":"k","upstream":"127.0.0.1:1","\\ud800":1}',
}


@pytest.mark.parametrize("raw", list(PROXY_BODIES.values()), ids=list(PROXY_BODIES))
def test_a_proxy_that_could_not_be_sent_back_or_addressed_is_never_created(api, raw):
    assert api.post("/proxies", json={"name": "X", "upstream": UP}).status_code == 201
    rejected(post_raw(api, "/proxies", raw))
    rejected(post_raw(api, "/populate", f"[{raw}]"))
    assert_api_answers(api, {"X"})


PATCH_BODIES = {
    "surrogate in listen": '{"listen":"\\ud800:0"}',
    "64-char label in listen": json.dumps({"listen": "a" * 64 + ":0"}),
    "NUL in upstream": '{"upstream":"a\\u0000:1"}',
    "surrogate in upstream": '{"upstream":"\\ud800:1"}',
}


@pytest.mark.parametrize("raw", list(PATCH_BODIES.values()), ids=list(PATCH_BODIES))
def test_an_update_to_an_address_that_cannot_be_used_is_a_400_and_changes_nothing(api, raw):
    before = api.post("/proxies", json={"name": "X", "upstream": UP}).json()
    rejected(api.patch("/proxies/X", data=raw.encode()))
    assert api.get("/proxies/X").json() == before
    assert_api_answers(api, {"X"})


TOXIC_BODIES = {
    "surrogate type": '{"type":"\\ud800"}',
    "surrogate stream": '{"type":"latency","stream":"\\ud800"}',
    "NUL in toxic name": '{"type":"latency","name":"t\\u0000"}',
    "newline in toxic name": '{"type":"latency","name":"t\\r\\n"}',
    "slash in toxic name": '{"type":"latency","name":"a/b"}',
    "dot-dot toxic name": '{"type":"latency","name":".."}',
    "surrogate in an attribute": (
        '{"type":"redis_command","stream":"upstream",'
        '"attributes":{"commands":["GET"],"action":"error","error":"ERR \\ud800"}}'
    ),
    "surrogate in an attribute key": '{"type":"latency","attributes":{"\\udfff":1}}',
}


@pytest.mark.parametrize("raw", list(TOXIC_BODIES.values()), ids=list(TOXIC_BODIES))
def test_a_toxic_that_could_not_be_sent_back_or_addressed_is_never_added(api, raw):
    assert api.post("/proxies", json={"name": "X", "upstream": UP}).status_code == 201
    response = post_raw(api, "/proxies/X/toxics", raw)
    assert response.status_code == 400, response.text
    assert api.get("/proxies/X/toxics").json() == []
    assert_api_answers(api, {"X"})


NAMES_REAL_CLIENTS_USE = [
    "redis",
    "redis_master",
    "pg-primary",
    "my.service",
    "shopify_test_redis_master",
    "redis:6379",  # testcontainers-java names its proxies host:port
    "with space",
    "a.b-c_d:e@f+g",
    "100%?#;&=",
    "数据库",
    "🎉",
    "{braces}",  # Toxiproxy's router takes them; aiohttp's default pattern did not
    "n" * 256,
]


@pytest.mark.parametrize("name", NAMES_REAL_CLIENTS_USE)
def test_names_real_clients_use_are_accepted_and_addressable(client, name):
    assert client.create_proxy(name, upstream=UP).name == name
    toxic = client.add_toxic(name, "latency", name=f"{name[:200]}_t")
    assert client.get_proxy(name).toxics == (toxic,)
    assert client.get_toxic(name, toxic.name) == toxic
    client.remove_toxic(name, toxic.name)
    client.delete_proxy(name)
    assert client.proxies() == {}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(st.characters(exclude_categories=()), min_size=0, max_size=6))
def test_any_name_is_either_refused_or_usable_and_never_breaks_the_api(http, name):
    """Surrogates included (st.characters with no category left out)."""
    for left in http.get("/proxies").json():  # examples share the server: start each empty
        http.delete(f"/proxies/{quote(left, safe='')}")
    raw = json.dumps({"name": name, "upstream": UP})  # ensure_ascii: \\u escapes, as curl
    response = post_raw(http, "/proxies", raw)
    assert response.status_code in (201, 400), response.text
    if response.status_code == 201:
        assert_api_answers(http, {name})
        assert http.delete(f"/proxies/{quote(name, safe='')}").status_code == 204
    assert_api_answers(http, set())


# -- defect 1, defence in depth: a stored value that slipped past validation ------------------
def test_a_stored_surrogate_cannot_break_any_later_answer(proxy_server, api):
    assert api.post("/proxies", json={"name": "X", "upstream": UP}).status_code == 201
    proxy = proxy_server.server.collection.get("X")
    proxy_server.call(setattr, proxy, "upstream", "\ud800:1")  # past every check
    for path in ("/proxies", "/proxies/X", "/metrics"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert "\ufffd:1" in response.text  # replaced as Go's encoder does


def test_a_config_file_name_with_a_surrogate_is_refused_at_start():
    with pytest.raises(ChaosError, match="surrogate") as caught:
        ProxyServer(config=[{"name": "\ud800", "upstream": UP}]).start()
    assert "accepted" in str(caught.value)


def test_a_config_file_attribute_with_a_surrogate_cannot_break_answers(echo_server):
    toxic = {
        "type": "redis_command",
        "stream": "upstream",
        "attributes": {"commands": ["GET"], "action": "error", "error": "ERR \udc00"},
    }
    config = [{"name": "r", "upstream": echo_server.address, "toxics": [toxic]}]
    with ProxyServer(config=config) as server:
        for path in ("/proxies", "/proxies/r", "/proxies/r/toxics", "/metrics"):
            assert requests.get(server.url + path, timeout=10).status_code == 200, path


# -- defect 1: chaoslib's client -------------------------------------------------------
def test_the_client_reports_a_refused_surrogate_name_and_keeps_working(client):
    with pytest.raises(ToxiproxyError) as created:
        client.create_proxy("\ud800", upstream=UP)
    assert created.value.status == 400
    with pytest.raises(ToxiproxyError) as got:  # was a UnicodeEncodeError in quote()
        client.get_proxy("\ud800")
    assert got.value.status == 404
    assert client.proxies() == {}
    assert "toxiproxy_proxy_received_bytes_total" in client.metrics()


def test_the_client_reports_an_answer_that_is_not_toxiproxys(proxy_server):
    # A URL that reaches a web server but not the API (here: a document it serves).
    with Toxiproxy(f"{proxy_server.url}/openapi.yaml?") as lost:
        for call in (lost.proxies, lambda: lost.get_proxy("p"), lambda: lost.toxics("p")):
            with pytest.raises(ToxiproxyError, match="unexpected answer"):
                call()


# -- defect 7: a request that waits for its body while its proxy is deleted -----------------
def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def _in_two_parts(url: str, path: str, body: bytes, between: Callable[[], None]) -> tuple:
    """POST ``body`` in two parts and run ``between`` once the handler waits for the rest.

    ``Expect: 100-continue``: the server answers 100 from the handler's request task just
    before the handler runs, and the handler looks the proxy up and blocks on the body with
    no await in between, so ``between`` always runs after that look-up: no sleep needed."""
    where = urlsplit(url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nUser-Agent: chaoslib-tests\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(head + body[:5])
        interim = _read_head(sock)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        between()
        sock.sendall(body[5:])
        answer = interim.partition(b"\r\n\r\n")[2]
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


TOXIC = json.dumps({"name": "slow", "type": "latency", "attributes": {"latency": 5}}).encode()


def test_a_toxic_for_a_proxy_deleted_while_its_body_arrives_is_a_404(api):
    assert api.post("/proxies", json={"name": "P", "upstream": UP}).status_code == 201

    def delete():
        assert api.delete("/proxies/P").status_code == 204

    status, body = _in_two_parts(api.url, "/proxies/P/toxics", TOXIC, delete)
    assert (status, body) == (404, {"error": "proxy not found", "status": 404})
    assert api.get("/proxies/P").status_code == 404
    assert_api_answers(api, set())


def test_a_toxic_for_a_proxy_re_created_while_its_body_arrives_lands_on_the_new_one(api):
    assert api.post("/proxies", json={"name": "P", "upstream": UP}).status_code == 201

    def delete_and_re_create():
        assert api.delete("/proxies/P").status_code == 204
        assert api.post("/proxies", json={"name": "P", "upstream": UP}).status_code == 201

    status, body = _in_two_parts(api.url, "/proxies/P/toxics", TOXIC, delete_and_re_create)
    assert status == 200 and body["name"] == "slow"
    assert [t["name"] for t in api.get("/proxies/P/toxics").json()] == ["slow"]


def test_an_update_to_a_toxic_whose_proxy_was_re_created_meanwhile_is_a_404(api):
    assert api.post("/proxies", json={"name": "P", "upstream": UP}).status_code == 201
    assert api.post("/proxies/P/toxics", data=TOXIC).status_code == 200

    def delete_and_re_create():
        assert api.delete("/proxies/P").status_code == 204
        assert api.post("/proxies", json={"name": "P", "upstream": UP}).status_code == 201

    update = json.dumps({"attributes": {"latency": 50}}).encode()
    status, body = _in_two_parts(api.url, "/proxies/P/toxics/slow", update, delete_and_re_create)
    assert (status, body) == (404, {"error": "toxic not found", "status": 404})
    assert api.get("/proxies/P/toxics").json() == []
