"""Stateful fuzzing of the data plane: random API sequences while connections stream.

Hypothesis drives proxy create, delete, disable and enable, and toxic add,
update and remove, against a real proxy server, while up to three connections
per proxy stream checksummed bytes through an echo server. After every step:

- every byte that came back is the byte that was sent at that offset
  (only non-dropping toxics are used, so nothing may be lost or reordered);
- the API reports exactly the proxies and toxics the model holds, and clients
  see that state: a disabled or deleted proxy refuses connects and its streams
  are closed, an enabled one echoes a probe intact;
- after ``/reset``, every proxy is enabled with no toxic, every open stream
  catches up (nothing stuck in a queue) and a probe is not delayed.

``CHAOS_STATEFUL_EXAMPLES`` (default 25) sets how many random programs run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from chaoslib.proxy import ProxyServer
from chaoslib.toxiproxy.client import Toxiproxy, ToxiproxyError
from chaoslib.wait import WaitTimeout, wait_until
from tests.echo import EchoServer

EXAMPLES = int(os.environ.get("CHAOS_STATEFUL_EXAMPLES", "25"))
PATTERN = os.urandom(1_000_003)  # a prime length, so the stream never repeats in step
WINDOW = 256 << 10  # bytes a stream may have in flight: the echo's flow control, not a sleep
PROBE_DELAY = 0.25  # latency a probe must see after its toxic is added (s)
# What the runs covered, printed at the end (and recorded in RELIABILITY.md).
STATS = {"programs": 0, "steps": 0, "streams": 0, "bytes_checked": 0, "toxics_added": 0}

TOXICS = {
    "latency": st.fixed_dictionaries({"latency": st.integers(0, 30), "jitter": st.integers(0, 10)}),
    "bandwidth": st.fixed_dictionaries({"rate": st.integers(100, 5000)}),
    "slicer": st.integers(1, 4096).flatmap(
        lambda size: st.fixed_dictionaries(
            {
                "average_size": st.just(size),
                "size_variation": st.integers(0, size),  # the server refuses more
                "delay": st.integers(0, 500),
            }
        )
    ),
    "noop": st.just({}),
    "slow_close": st.fixed_dictionaries({"delay": st.integers(0, 50)}),
    "limit_data": st.fixed_dictionaries({"bytes": st.just(1 << 40)}),
}


class Stream:
    """One connection sending the pattern and checking every echoed byte against it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sent = 0
        self.received = 0
        self.error: str | None = None
        self.closed = threading.Event()
        self.stop = threading.Event()
        self.held = threading.Event()  # set: send nothing more, so the echo can catch up
        self.room = threading.Condition()
        self.threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._receive, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _send(self) -> None:
        while not self.stop.is_set() and not self.closed.is_set():
            with self.room:
                self.room.wait_for(
                    lambda: (
                        (self.sent - self.received < WINDOW and not self.held.is_set())
                        or self.stop.is_set()
                        or self.closed.is_set()
                    ),
                    timeout=1,
                )
                if self.sent - self.received >= WINDOW or self.held.is_set():
                    continue
            start = self.sent % len(PATTERN)
            chunk = PATTERN[start : start + 8192]
            try:
                self.sock.sendall(chunk)
            except OSError:
                return
            self.sent += len(chunk)

    def _receive(self) -> None:
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                start = self.received % len(PATTERN)
                expected = (PATTERN[start:] + PATTERN)[: len(data)]
                if data != expected and self.error is None:
                    at = next(
                        i for i, (a, b) in enumerate(zip(data, expected, strict=False)) if a != b
                    )
                    self.error = f"byte {self.received + at} differs from what was sent"
                with self.room:
                    self.received += len(data)
                    self.room.notify_all()
        except OSError:
            pass
        finally:
            self.closed.set()
            with self.room:
                self.room.notify_all()

    def caught_up(self) -> bool:
        return self.received == self.sent

    def hold(self) -> None:
        self.held.set()

    def release(self) -> None:
        self.held.clear()
        with self.room:
            self.room.notify_all()

    def close(self) -> None:
        self.stop.set()
        with self.room:
            self.room.notify_all()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a send blocked on a full socket
        self.sock.close()
        for thread in self.threads:
            thread.join(5)


def probe(port: int, payload: bytes = b"probe-0123456789" * 64) -> tuple[bool, float]:
    """A fresh connection's echo: whether it came back intact, and how long it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            data = sock.recv(65536)
            if not data:
                break
            got += data
    return got == payload, time.monotonic() - started


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture(scope="module")
def plant():
    with EchoServer() as echo, ProxyServer() as server, Toxiproxy(server.url) as client:
        yield echo, server, client


def describe_links(server: ProxyServer) -> str:
    """The proxy's view of every connection, for a stream that stopped moving."""

    def collect() -> list[str]:
        lines = []
        for proxy in server.server.collection.proxies.values():
            for link in proxy.connections:
                for d in (link.up, link.down):
                    lines.append(
                        f"{proxy.name} {d.stream}: fast={d.fast} fast_ok={d.fast_ok} "
                        f"queued={d.queued_bytes} pump={d.pump_task is not None} "
                        f"dst_paused={d.dst_paused} src_paused_by_queue={d.src_paused_by_queue} "
                        f"entries={[(e.toxic.name, e.active) for e in d.entries]} "
                        f"version={d.version}/{proxy.toxics_version} seen={d.seen}"
                    )
        return lines

    return "\n".join(server.call(collect))


def flushed(server: ProxyServer, stream: Stream, what: str) -> None:
    """Stop the stream sending, then every byte sent must come back."""
    stream.hold()
    try:
        wait_until(stream.caught_up, timeout=10, what=what)
    except WaitTimeout as exc:
        raise AssertionError(
            f"{exc}: sent {stream.sent}, received {stream.received}\n{describe_links(server)}"
        ) from None


class DataPlane(RuleBasedStateMachine):
    echo: EchoServer
    client: Toxiproxy
    server: ProxyServer

    proxies = Bundle("proxies")

    def __init__(self) -> None:
        super().__init__()
        self.client.reset()
        for name in self.client.proxies():
            self.client.delete_proxy(name)
        self.model: dict[str, dict] = {}  # name -> {"enabled", "port", "toxics": {name: spec}}
        self.streams: dict[str, list[Stream]] = {}
        self.dead: list[Stream] = []  # closed by a disable or delete: checked, then dropped
        self.counter = 0
        STATS["programs"] += 1

    # -- proxies --------------------------------------------------------------------
    @initialize(target=proxies)
    def streaming_proxy(self):
        """Every program starts with traffic, so each later call acts on live connections."""
        name = self.create()
        self.streams[name] = [Stream(self.model[name]["port"]) for _ in range(2)]
        STATS["streams"] += 2
        return name

    @precondition(lambda self: len(self.model) < 2)
    @rule(target=proxies)
    def create(self):
        self.counter += 1
        name = f"p{self.counter}"
        proxy = self.client.create_proxy(name, self.echo.address)
        self.model[name] = {"enabled": True, "port": proxy.listen_port, "toxics": {}}
        self.streams[name] = []
        return name

    @rule(name=consumes(proxies))
    def delete(self, name):
        self.client.delete_proxy(name)
        port = self.model.pop(name)["port"]
        self._closed_streams(name)
        assert refused(port), "a deleted proxy still accepts connections"
        self.streams.pop(name)

    @rule(name=proxies, enabled=st.booleans())
    def set_enabled(self, name, enabled):
        self.client.update_proxy(name, enabled=enabled)
        self.model[name]["enabled"] = enabled
        if not enabled:
            self._closed_streams(name)
            assert refused(self.model[name]["port"]), "a disabled proxy accepts connections"

    def _closed_streams(self, name: str) -> None:
        for stream in self.streams[name]:
            assert stream.closed.wait(5), "a stream outlived the disable or delete of its proxy"
            self.dead.append(stream)
        self.streams[name] = []

    @precondition(lambda self: any(m["enabled"] for m in self.model.values()))
    @rule(data=st.data())
    def open_stream(self, data):
        name = data.draw(st.sampled_from(sorted(n for n, m in self.model.items() if m["enabled"])))
        if len(self.streams[name]) < 3:
            self.streams[name].append(Stream(self.model[name]["port"]))
            STATS["streams"] += 1

    # -- toxics ---------------------------------------------------------------------
    @rule(
        name=proxies,
        kind=st.sampled_from(sorted(TOXICS)),
        stream=st.sampled_from(["upstream", "downstream"]),
        toxicity=st.sampled_from([1.0, 1.0, 0.5, 0.0]),
        data=st.data(),
    )
    def add_toxic(self, name, kind, stream, toxicity, data):
        attributes = data.draw(TOXICS[kind])
        self.counter += 1
        toxic = f"t{self.counter}"
        self.client.add_toxic(
            name, kind, name=toxic, stream=stream, toxicity=toxicity, attributes=attributes
        )
        STATS["toxics_added"] += 1
        self.model[name]["toxics"][toxic] = {
            "type": kind,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }

    @rule(name=proxies, data=st.data())
    def update_toxic(self, name, data):
        toxics = self.model[name]["toxics"]
        if not toxics:
            return
        toxic = data.draw(st.sampled_from(sorted(toxics)))
        attributes = data.draw(TOXICS[toxics[toxic]["type"]])
        self.client.update_toxic(name, toxic, attributes=attributes)
        toxics[toxic]["attributes"] = attributes

    @rule(name=proxies, data=st.data())
    def remove_toxic(self, name, data):
        toxics = self.model[name]["toxics"]
        if not toxics:
            return
        toxic = data.draw(st.sampled_from(sorted(toxics)))
        self.client.remove_toxic(name, toxic)
        del toxics[toxic]

    @rule(name=proxies)
    def latency_is_felt(self, name):
        """A toxic the API accepted acts on the next connection: a probe is delayed by it."""
        if not self.model[name]["enabled"]:
            return
        self.client.add_toxic(
            name,
            "latency",
            name="felt",
            stream="downstream",
            attributes={"latency": int(PROBE_DELAY * 1000)},
        )
        try:
            intact, seconds = probe(self.model[name]["port"])
        finally:
            self.client.remove_toxic(name, "felt")
        assert intact and seconds >= PROBE_DELAY, f"probe took {seconds:.3f}s"

    @rule()
    def reset(self):
        self.client.reset()
        for entry in self.model.values():
            entry["enabled"] = True
            entry["toxics"] = {}
        for name, entry in self.model.items():
            for stream in self.streams[name]:
                flushed(self.server, stream, "a stream to flush after /reset")
                stream.release()
            intact, seconds = probe(entry["port"])
            assert intact and seconds < PROBE_DELAY, f"not transparent: probe took {seconds:.3f}s"

    # -- invariants -----------------------------------------------------------------
    @invariant()
    def bytes_are_intact_and_in_order(self):
        STATS["steps"] += 1
        for stream in [s for group in self.streams.values() for s in group] + self.dead:
            assert stream.error is None, stream.error

    @invariant()
    def open_streams_stay_open_under_non_dropping_toxics(self):
        for name, group in self.streams.items():
            for stream in group:
                assert not stream.closed.is_set(), f"a stream on enabled {name} was closed"

    @invariant()
    def the_api_reports_the_model(self):
        listed = self.client.proxies()
        assert set(listed) == set(self.model)
        for name, entry in self.model.items():
            assert listed[name].enabled is entry["enabled"]
            toxics = {t.name: t for t in listed[name].toxics}
            assert set(toxics) == set(entry["toxics"])
            for toxic, spec in entry["toxics"].items():
                got = toxics[toxic]
                assert (got.type, got.stream, got.toxicity) == (
                    spec["type"],
                    spec["stream"],
                    spec["toxicity"],
                )
                assert {k: got.attributes.get(k) for k in spec["attributes"]} == spec["attributes"]

    @invariant()
    def enabled_proxies_answer(self):
        for name, entry in self.model.items():
            if entry["enabled"] and not entry["toxics"]:
                try:
                    intact, _ = probe(entry["port"])
                except OSError as exc:
                    raise AssertionError(
                        f"probe of {name} failed: {exc!r}\n{describe_links(self.server)}"
                    ) from None
                assert intact

    def teardown(self):
        try:
            self.client.reset()
            for name, group in self.streams.items():
                for stream in group:
                    flushed(self.server, stream, f"a stream on {name} to flush")
                    assert stream.error is None, stream.error
        finally:
            for stream in [s for group in self.streams.values() for s in group] + self.dead:
                stream.close()
                STATS["bytes_checked"] += stream.received
            for name in list(self.model):
                with contextlib.suppress(ToxiproxyError):
                    self.client.delete_proxy(name)


def test_random_api_programs_never_corrupt_lose_or_misreport(plant):
    echo, server, client = plant
    DataPlane.server = server
    DataPlane.echo = echo
    DataPlane.client = client
    machine = DataPlane.TestCase
    machine.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        print_blob=True,
    )
    machine().runTest()
    print(f"stateful data plane: {STATS}")
    # Guards the test itself: programs that never moved a byte would prove nothing.
    assert STATS["bytes_checked"] > 10 * WINDOW and STATS["toxics_added"] > 0
