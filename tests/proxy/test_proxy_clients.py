"""The same operations through chaoslib's client and through toxiproxy-python (unchanged user code)."""

from __future__ import annotations

import socket

import pytest

from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError


def echo_once(port: int, payload: bytes = b"hi") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        return sock.recv(100)


# -- chaoslib's client ---------------------------------------------------------------------
def test_client_full_round_trip(client, echo_server):
    assert client.version() == "2.12.0"
    proxy = client.create_proxy("echo", upstream=echo_server.address)
    assert proxy.enabled and proxy.listen_port > 0
    assert echo_once(proxy.listen_port) == b"hi"
    assert set(client.proxies()) == {"echo"}

    toxic = client.add_toxic("echo", "latency", attributes={"latency": 10, "jitter": 2})
    assert toxic.name == "latency_downstream" and toxic.attributes == {"latency": 10, "jitter": 2}
    updated = client.update_toxic("echo", toxic.name, attributes={"latency": 20}, toxicity=0.5)
    assert updated.attributes == {"latency": 20, "jitter": 2} and updated.toxicity == 0.5
    assert client.get_toxic("echo", toxic.name) == updated
    assert client.get_proxy("echo").toxics == (updated,)

    assert client.disable("echo").enabled is False
    assert client.enable("echo").enabled is True
    client.remove_toxic("echo", toxic.name)
    assert client.toxics("echo") == []

    client.add_toxic("echo", "noop")
    client.disable("echo")
    client.reset()
    after = client.get_proxy("echo")
    assert after.enabled and after.toxics == ()

    populated = client.populate(
        [{"name": "two", "listen": "127.0.0.1:0", "upstream": echo_server.address}]
    )
    assert [p.name for p in populated] == ["two"]
    client.delete_proxy("two")
    assert "two" not in client.proxies()


def test_client_errors_carry_the_servers_message_and_status(client):
    with pytest.raises(ToxiproxyError) as info:
        client.get_proxy("missing")
    assert info.value.status == 404
    assert info.value.message == "proxy not found"
    client.create_proxy("p", upstream="127.0.0.1:1")
    with pytest.raises(ToxiproxyError) as info:
        client.add_toxic("p", "bandwidth", attributes={"rate": -1})
    assert info.value.status == 400 and "rate" in info.value.message


def test_client_reports_an_unreachable_server_fast():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    tp = Toxiproxy(f"http://127.0.0.1:{port}", timeout=2)
    assert tp.is_running() is False
    with pytest.raises(ToxiproxyError) as info:
        tp.proxies()
    assert info.value.status == 0 and "cannot reach" in str(info.value)


def test_client_takes_its_url_from_the_environment(monkeypatch, proxy_server):
    monkeypatch.setenv("TOXIPROXY_URL", proxy_server.url)
    assert Toxiproxy().version() == "2.12.0"


# -- toxiproxy-python, as existing user code calls it -----------------------------------------
@pytest.fixture
def toxiproxy_python(proxy_server):
    from toxiproxy import Toxiproxy as LegacyToxiproxy

    server = LegacyToxiproxy()
    host, port = proxy_server.url.removeprefix("http://").split(":")
    server.update_api_consumer(host, int(port))
    return server


def test_toxiproxy_python_create_list_toxics_toggle_destroy_reset(toxiproxy_python, echo_server):
    server = toxiproxy_python
    assert server.running()
    proxy = server.create(upstream=echo_server.address, name="legacy")
    assert "legacy" in server.proxies()
    port = int(proxy.listen.rsplit(":", 1)[1])
    assert echo_once(port) == b"hi"

    proxy.add_toxic(type="latency", attributes={"latency": 10})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream"}
    assert toxics["latency_downstream"].attributes == {"latency": 10, "jitter": 0}

    proxy.disable()
    with pytest.raises(ConnectionRefusedError):
        echo_once(port)
    proxy.enable()
    with proxy.down():
        assert server.get_proxy("legacy").enabled is False
    assert server.get_proxy("legacy").enabled is True

    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    proxy.add_toxic(type="noop", name="n")
    assert server.reset() is True
    assert server.get_proxy("legacy").toxics() == {}

    server.destroy(proxy)
    assert server.proxies() == {}


def test_toxiproxy_python_populate_and_destroy_all(toxiproxy_python, echo_server):
    server = toxiproxy_python
    made = server.populate(
        [
            {"name": "a", "listen": "127.0.0.1:0", "upstream": echo_server.address},
            {"name": "b", "listen": "127.0.0.1:0", "upstream": echo_server.address},
        ]
    )
    assert sorted(p.name for p in made) == ["a", "b"]
    server.destroy_all()
    assert server.proxies() == {}
