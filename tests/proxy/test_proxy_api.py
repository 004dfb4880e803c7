"""Raw-HTTP conformance with Toxiproxy 2.12.0 (reference sections 2.3 to 2.5)."""

from __future__ import annotations

import json
import socket

import pytest


def make(api, name="p", upstream="127.0.0.1:1", listen="127.0.0.1:0", **extra):
    return api.post(
        "/proxies", json={"name": name, "listen": listen, "upstream": upstream, **extra}
    )


def error_of(response) -> dict:
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.text.endswith("\n")
    return json.loads(response.text)


# -- proxies -------------------------------------------------------------------------------
def test_empty_proxy_list_is_an_empty_object(api):
    response = api.get("/proxies")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {}


def test_create_proxy_returns_201_with_toxiproxys_keys_in_order(api):
    response = make(api, listen="localhost:0")
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
    assert body["Logger"] == {} and body["toxics"] == [] and body["enabled"] is True
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0  # localhost and port 0 resolved


def test_listen_is_optional_and_defaults_to_loopback(api):
    body = api.post("/proxies", json={"name": "p", "upstream": "127.0.0.1:1"}).json()
    assert body["listen"].startswith("127.0.0.1:")


def test_duplicate_proxy_is_409(api):
    make(api)
    response = make(api)
    assert response.status_code == 409
    assert error_of(response) == {"error": "proxy already exists", "status": 409}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "p", "listen": "127.0.0.1:0"}, "missing required field: upstream"),
    ],
)
def test_missing_required_fields(api, body, message):
    response = api.post("/proxies", json=body)
    assert response.status_code == 400
    assert error_of(response)["error"] == message


def test_empty_body_is_eof(api):
    response = api.post("/proxies", data=b"")
    assert response.status_code == 400
    assert error_of(response)["error"] == "bad request body: EOF"


def test_invalid_json_is_a_bad_request_body(api):
    response = api.post("/proxies", data=b"nul")
    assert response.status_code == 400
    assert error_of(response)["error"].startswith("bad request body: ")


def test_port_conflict_is_500_with_gos_message(api):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        response = make(api, listen=f"127.0.0.1:{port}")
    assert response.status_code == 500
    assert (
        error_of(response)["error"] == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    )


def test_unparseable_listen_is_a_400_naming_the_field(api):
    response = make(api, listen="local373")
    assert response.status_code == 400
    assert "listen" in error_of(response)["error"]


def test_disabled_proxy_keeps_listen_as_given(api):
    body = make(api, listen="localhost:0", enabled=False).json()
    assert body["enabled"] is False
    assert body["listen"] == "localhost:0"


def test_get_proxy_and_404(api):
    make(api)
    assert api.get("/proxies/p").json()["name"] == "p"
    response = api.get("/proxies/nope")
    assert response.status_code == 404
    assert error_of(response) == {"error": "proxy not found", "status": 404}


@pytest.mark.parametrize("method", ["patch", "post"])
def test_update_proxy_keeps_missing_fields(api, method):
    created = make(api).json()
    response = getattr(api, method)("/proxies/p", json={"enabled": False})
    assert response.status_code == 200
    body = response.json()
    assert body["enabled"] is False
    assert body["upstream"] == created["upstream"]
    enabled = getattr(api, method)("/proxies/p", json={"enabled": True}).json()
    assert enabled["enabled"] is True


def test_update_proxy_upstream(api):
    make(api)
    body = api.patch("/proxies/p", json={"upstream": "127.0.0.1:2"}).json()
    assert body["upstream"] == "127.0.0.1:2"
    assert api.patch("/proxies/nope", json={}).status_code == 404


def test_delete_proxy_is_204_and_then_404(api):
    make(api)
    response = api.delete("/proxies/p")
    assert response.status_code == 204 and response.content == b""
    assert error_of(api.delete("/proxies/p")) == {"error": "proxy not found", "status": 404}


# -- toxics --------------------------------------------------------------------------------
def test_toxic_defaults_and_key_order(api):
    make(api)
    assert api.get("/proxies/p/toxics").json() == []
    response = api.post(
        "/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 10}}
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["attributes", "name", "type", "stream", "toxicity"]
    assert body == {
        "attributes": {"latency": 10, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }
    assert api.get("/proxies/p").json()["toxics"] == [body]


def test_toxics_list_upstream_chain_first(api):
    make(api)
    api.post("/proxies/p/toxics", json={"type": "noop", "stream": "downstream"})
    api.post("/proxies/p/toxics", json={"type": "noop", "stream": "upstream"})
    names = [t["name"] for t in api.get("/proxies/p/toxics").json()]
    assert names == ["noop_upstream", "noop_downstream"]


def test_noop_is_a_valid_type_with_empty_attributes(api):
    make(api)
    body = api.post("/proxies/p/toxics", json={"type": "noop"}).json()
    assert body["attributes"] == {}


def test_stream_is_case_insensitive_and_names_use_it_as_given(api):
    make(api)
    body = api.post("/proxies/p/toxics", json={"type": "noop", "stream": "UpStream"}).json()
    assert body["stream"] == "upstream"
    assert body["name"] == "noop_UpStream"


@pytest.mark.parametrize("stream", ["sideways", ""])
def test_invalid_stream_is_400(api, stream):
    make(api)
    response = api.post("/proxies/p/toxics", json={"type": "latency", "stream": stream})
    assert response.status_code == 400
    assert error_of(response)["error"] == "stream was invalid, can be either upstream or downstream"


def test_stream_is_validated_before_type(api):
    make(api)
    response = api.post("/proxies/p/toxics", json={"type": "bogus", "stream": "sideways"})
    assert error_of(response)["error"].startswith("stream was invalid")


def test_unknown_type_is_400(api):
    make(api)
    response = api.post("/proxies/p/toxics", json={"type": "bogus"})
    assert error_of(response) == {"error": "invalid toxic type", "status": 400}


def test_type_is_validated_before_name_conflict(api):
    make(api)
    api.post("/proxies/p/toxics", json={"type": "noop", "name": "x"})
    response = api.post("/proxies/p/toxics", json={"type": "bogus", "name": "x"})
    assert error_of(response)["error"] == "invalid toxic type"


def test_toxic_names_are_unique_across_streams(api):
    make(api)
    api.post("/proxies/p/toxics", json={"type": "noop", "name": "x", "stream": "upstream"})
    response = api.post(
        "/proxies/p/toxics", json={"type": "noop", "name": "x", "stream": "downstream"}
    )
    assert response.status_code == 409
    assert error_of(response)["error"] == "toxic already exists"


def test_attribute_of_wrong_type_is_a_bad_request_body(api):
    make(api)
    response = api.post(
        "/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": "1s"}}
    )
    assert response.status_code == 400
    assert error_of(response)["error"].startswith("bad request body")


def test_unknown_attributes_and_fields_are_ignored(api):
    make(api)
    body = api.post(
        "/proxies/p/toxics", json={"type": "latency", "attributes": {"nope": 1}, "extra": True}
    ).json()
    assert body["attributes"] == {"latency": 0, "jitter": 0}


@pytest.mark.parametrize("method", ["post", "patch"])
def test_toxic_update_merges_attributes(api, method):
    make(api)
    api.post(
        "/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 100, "jitter": 10}}
    )
    response = getattr(api, method)(
        "/proxies/p/toxics/latency_downstream",
        json={"attributes": {"latency": 200}, "toxicity": 0.5},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["attributes"] == {"latency": 200, "jitter": 10}
    assert body["toxicity"] == 0.5
    assert body["type"] == "latency" and body["stream"] == "downstream"


def test_toxic_lookups_name_what_is_missing(api):
    assert error_of(api.get("/proxies/nope/toxics/x"))["error"] == "proxy not found"
    make(api)
    assert error_of(api.get("/proxies/p/toxics/x"))["error"] == "toxic not found"
    assert api.delete("/proxies/p/toxics/x").status_code == 404
    assert api.post("/proxies/p/toxics/x", json={}).status_code == 404


def test_delete_toxic_is_204(api):
    make(api)
    api.post("/proxies/p/toxics", json={"type": "noop"})
    response = api.delete("/proxies/p/toxics/noop_downstream")
    assert response.status_code == 204 and response.content == b""
    assert api.get("/proxies/p/toxics").json() == []


# -- chaoslib's stricter validation (reference section 5) ----------------------------------
@pytest.mark.parametrize(
    ("toxic", "field", "accepted"),
    [
        ({"type": "bandwidth", "attributes": {"rate": -1}}, "rate", "0 to"),
        ({"type": "slicer", "attributes": {"average_size": 0}}, "average_size", "1 or more"),
        ({"type": "latency", "attributes": {"latency": -5}}, "latency", "0 to"),
        ({"type": "timeout", "attributes": {"timeout": -1}}, "timeout", "0 to"),
        ({"type": "latency", "toxicity": 1.5}, "toxicity", "0 to 1"),
        ({"type": "latency", "toxicity": -0.1}, "toxicity", "0 to 1"),
    ],
)
def test_values_that_crash_or_make_no_sense_get_a_400_naming_the_field(api, toxic, field, accepted):
    make(api)
    response = api.post("/proxies/p/toxics", json=toxic)
    assert response.status_code == 400
    message = error_of(response)["error"]
    assert field in message and accepted in message
    assert api.get("/version").status_code == 200


def test_invalid_update_leaves_the_toxic_unchanged(api):
    make(api)
    api.post("/proxies/p/toxics", json={"type": "bandwidth", "attributes": {"rate": 10}})
    assert (
        api.post(
            "/proxies/p/toxics/bandwidth_downstream", json={"attributes": {"rate": -1}}
        ).status_code
        == 400
    )
    assert api.get("/proxies/p/toxics/bandwidth_downstream").json()["attributes"] == {"rate": 10}


# -- populate, reset, version, metrics, odds and ends ---------------------------------------
def test_populate_creates_and_returns_201(api):
    response = api.post(
        "/populate",
        json=[
            {"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
            {"name": "b", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:2", "enabled": False},
        ],
    )
    assert response.status_code == 201
    proxies = response.json()["proxies"]
    assert [p["name"] for p in proxies] == ["a", "b"]
    assert [p["enabled"] for p in proxies] == [True, False]


def test_populate_validates_everything_first(api):
    response = api.post(
        "/populate",
        json=[
            {"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
            {"listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
        ],
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "error": "missing required field: name at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert api.get("/proxies").json() == {}


def test_populate_leaves_equal_proxies_untouched_and_replaces_changed_ones(api):
    a = make(api, name="a", upstream="127.0.0.1:1").json()
    make(api, name="b", upstream="127.0.0.1:1")
    for name in ("a", "b"):
        api.post(f"/proxies/{name}/toxics", json={"type": "noop"})
    body = api.post(
        "/populate",
        json=[
            {"name": "a", "listen": a["listen"], "upstream": "127.0.0.1:1"},
            {"name": "b", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"},
        ],
    ).json()["proxies"]
    assert len(body[0]["toxics"]) == 1  # equal: kept, toxics included
    assert body[1]["toxics"] == [] and body[1]["upstream"] == "127.0.0.1:9"  # replaced


def test_populate_start_failure_keeps_earlier_proxies(api):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        response = api.post(
            "/populate",
            json=[
                {"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
                {"name": "b", "listen": f"127.0.0.1:{port}", "upstream": "127.0.0.1:1"},
            ],
        )
    assert response.status_code == 500
    body = response.json()
    assert [p["name"] for p in body["proxies"]] == ["a"]
    assert "a" in api.get("/proxies").json()


def test_reset_enables_proxies_and_removes_toxics(api):
    make(api, enabled=False)
    make(api, name="q")
    api.post("/proxies/q/toxics", json={"type": "noop"})
    response = api.post("/reset")
    assert response.status_code == 204 and response.content == b""
    proxies = api.get("/proxies").json()
    assert all(p["enabled"] for p in proxies.values())
    assert all(p["toxics"] == [] for p in proxies.values())


def test_version_is_exact(api):
    response = api.get("/version")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    assert response.content == b'{"version": "2.12.0"}\n'


def test_unknown_path_is_gorillas_404(api):
    response = api.get("/nope")
    assert response.status_code == 404
    assert response.text == "404 page not found\n"


def test_browsers_are_refused(api):
    response = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert response.status_code == 403
    assert response.text == "User agent not allowed\n"


@pytest.mark.parametrize("path", ["/proxies", "/version", "/nope", "/proxies/missing"])
def test_every_response_carries_a_request_id(api, path):
    assert api.get(path).headers["X-Toxiproxy-Request-Id"]


def test_metrics_are_prometheus_text(api):
    make(api)
    response = api.get("/metrics")
    assert response.status_code == 200
    assert "# TYPE toxiproxy_proxy_received_bytes_total counter" in response.text
    assert 'toxiproxy_proxy_sent_bytes_total{direction="upstream",listener=' in response.text
