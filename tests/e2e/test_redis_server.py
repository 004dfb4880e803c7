"""RedisServer controls a real redis-server, observed through a real client."""

from __future__ import annotations

import pytest
import redis

from chaoslib.errors import PortInUseError, ServiceError
from chaoslib.services.redis import RedisServer
from chaoslib.wait import wait_until
from tests.helpers import connection_refused


@pytest.fixture
def server(tmp_path, redis_binary):
    srv = RedisServer(tmp_path / "redis", binary=redis_binary)
    srv.start()
    yield srv
    srv.stop()


def test_start_answers_ping_on_loopback(server):
    with server.client() as client:
        assert client.ping() is True
    assert server.host == "127.0.0.1"
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert server.is_running() and server.pid


def test_stop_is_graceful_idempotent_and_frees_the_port(server):
    server.stop()
    server.stop()
    assert not server.is_running()
    assert server.pid is None
    assert connection_refused(*server.address)


def test_kill_makes_the_port_refuse_connections(server):
    pid = server.pid
    server.kill()
    assert not server.is_running()
    assert connection_refused(*server.address)
    server.kill()  # idempotent
    assert pid is not None


def test_ping_times_out_while_paused_and_answers_after_resume(server):
    server.pause()
    assert server.is_paused()
    with server.client(socket_timeout=0.3) as client, pytest.raises(redis.TimeoutError):
        client.ping()
    server.resume()
    assert not server.is_paused()
    with server.client() as client:
        assert client.ping() is True


def test_stop_works_on_a_paused_server(server):
    server.pause()
    server.stop(timeout=5)
    assert not server.is_running()


def test_restart_keeps_port_and_data_directory_when_persistent(tmp_path, redis_binary):
    with RedisServer(tmp_path / "r", binary=redis_binary, persistence=True) as srv:
        port = srv.port
        with srv.client() as client:
            client.set("survives", "yes")
        srv.restart()
        assert srv.port == port
        with srv.client() as client:
            assert client.get("survives") == b"yes"


def test_restart_without_persistence_starts_empty(tmp_path, redis_binary):
    with RedisServer(tmp_path / "r", binary=redis_binary) as srv:
        with srv.client() as client:
            client.set("gone", "1")
        srv.restart()
        with srv.client() as client:
            assert client.get("gone") is None


def test_pause_on_a_stopped_server_is_an_error(tmp_path, redis_binary):
    srv = RedisServer(tmp_path / "r", binary=redis_binary)
    with pytest.raises(ServiceError, match="not running"):
        srv.pause()


def test_taken_fixed_port_names_the_port(tmp_path, redis_binary, server):
    other = RedisServer(tmp_path / "other", binary=redis_binary, port=server.port)
    with pytest.raises(PortInUseError) as info:
        other.start()
    assert str(server.port) in str(info.value)
    assert "redis" in str(info.value)


class _BrokenRedis(RedisServer):
    def build_spec(self):
        spec = super().build_spec()
        return type(spec)(argv=(*spec.argv, "--no-such-directive", "x"), log_path=spec.log_path)


def test_start_failure_shows_the_servers_own_log(tmp_path, redis_binary):
    srv = _BrokenRedis(tmp_path / "broken", binary=redis_binary, start_timeout=10)
    with pytest.raises(ServiceError) as info:
        srv.start()
    message = str(info.value)
    assert "exited during start-up" in message
    assert "no-such-directive" in message  # from redis-server's own complaint
    assert srv.log_path in message
    wait_until(lambda: not srv.is_running(), timeout=5)
