"""No request body can crash or hang the API: random JSON and non-JSON at every endpoint."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ENDPOINTS = [
    ("POST", "/proxies"),
    ("POST", "/populate"),
    ("PATCH", "/proxies/p"),
    ("POST", "/proxies/p"),
    ("POST", "/proxies/p/toxics"),
    ("POST", "/proxies/p/toxics/t"),
    ("PATCH", "/proxies/p/toxics/t"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
toxic_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            [
                "latency",
                "bandwidth",
                "slicer",
                "timeout",
                "reset_peer",
                "limit_data",
                "slow_close",
                "noop",
                "bogus",
            ]
        )
        | json_values,
        "stream": st.sampled_from(["upstream", "downstream", "", "UP"]) | json_values,
        "name": st.text(max_size=8) | json_values,
        "toxicity": st.floats(allow_nan=True) | json_values,
        "attributes": st.dictionaries(
            st.sampled_from(
                [
                    "latency",
                    "jitter",
                    "rate",
                    "delay",
                    "timeout",
                    "bytes",
                    "average_size",
                    "size_variation",
                ]
            ),
            st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=True)
            | json_values,
        )
        | json_values,
    },
)
proxy_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=8) | json_values,
        "listen": st.sampled_from(
            ["127.0.0.1:0", "localhost:0", "nohost", ":", "1.2.3.4:99999", ""]
        )
        | json_values,
        "upstream": st.sampled_from(["127.0.0.1:1", "x", "[::1]:5", ""]) | json_values,
        "enabled": st.booleans() | json_values,
    },
)
bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | toxic_like.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | proxy_like.map(lambda v: json.dumps(v).encode())
    | st.lists(proxy_like, max_size=3).map(lambda v: json.dumps(v).encode())
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_random_bodies_never_get_a_5xx(api, endpoint, body):
    api.post("/proxies", json={"name": "p", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"})
    api.post("/proxies/p/toxics", json={"name": "t", "type": "latency"})
    method, path = endpoint
    response = getattr(api, method.lower())(path, data=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "error" in json.loads(response.text)
    assert api.get("/version").status_code == 200


def test_deeply_nested_json_is_rejected_not_fatal(api):
    body = b"[" * 100_000 + b"]" * 100_000
    response = api.post("/populate", data=body)
    assert 400 <= response.status_code < 500
    assert api.get("/version").status_code == 200


def test_oversized_body_is_rejected(api):
    response = api.post("/proxies", data=b"{" + b" " * (2 << 20) + b"}")
    assert response.status_code == 413
    assert api.get("/version").status_code == 200
