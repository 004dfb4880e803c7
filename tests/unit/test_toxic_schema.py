"""One toxic schema (chaoslib.proxy.schema), and its readers agree on every value.

The proxy server's API, the client-side fault builders (Link) and an experiment file
all judge a toxic's attributes by the schema; for every toxic type and attribute,
they accept and refuse the same values, and refuse them with the same words.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoslib.errors import ConfigError
from chaoslib.experiment.file import load_experiment
from chaoslib.faults.network import Link
from chaoslib.proxy import schema
from chaoslib.proxy.errors import ApiError
from chaoslib.proxy.schema import SCHEMA, Attr
from chaoslib.proxy.toxic_collection import ToxicCollection
from chaoslib.proxy.toxics import TOXIC_TYPES
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.yaml_lines import MAX_INT, FileError
from tests.helpers import REPO

# Never contacted: a fault is judged when it is built, before any request.
CLIENT = Toxiproxy("http://127.0.0.1:9", timeout=1)
EXAMPLES = 40
PAIRS = [(t.name, a.name) for t in SCHEMA.values() for a in t.attrs]


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("schema", {"chaoslib.errors", "chaoslib.proxy.schema_types"}),
        ("schema_types", {"chaoslib.errors"}),
    ],
)
def test_the_schema_imports_nothing_of_chaoslib_but_its_errors(module, allowed):
    tree = ast.parse((REPO / "chaoslib" / "proxy" / f"{module}.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
    }
    assert {m for m in imported if m and m.startswith("chaoslib")} <= allowed


def test_every_schema_entry_has_a_behaviour_and_the_server_serves_its_attributes():
    assert set(TOXIC_TYPES) == set(SCHEMA)
    for name, entry in SCHEMA.items():
        cls = TOXIC_TYPES[name]
        assert cls.schema is entry
        assert cls.streams == entry.streams
        fields = {f.name: f.default for f in dataclasses.fields(cls.Attributes)}
        assert fields == entry.defaults()


# -- the three readers ------------------------------------------------------------------
def baseline(type_name: str) -> dict[str, Any]:
    """The smallest valid attributes a fault of this type must state."""
    return {a.name: max(a.minimum, 1) for a in SCHEMA[type_name].attrs if a.required}


def by_server(type_name: str, attrs: dict[str, Any]) -> str | None:
    """None if the server's API accepts the attributes, else its error message."""
    try:
        ToxicCollection(lambda *_: None).add({"type": type_name, "attributes": attrs})
    except ApiError as exc:
        assert exc.status == 400
        return exc.message.removeprefix("bad request body: ")
    return None


def by_client(type_name: str, attrs: dict[str, Any]) -> str | None:
    try:
        Link("db", CLIENT).toxic(type_name, **attrs)
    except ConfigError as exc:
        return str(exc)
    return None


def by_file(tmp_path, type_name: str, attrs: dict[str, Any]) -> str | None:
    entry = {"name": "f", "type": type_name, "link": "db", "at": 0, "for": 1, **attrs}
    path = tmp_path / "exp.yml"
    path.write_text(
        "name: schema\nfaults:\n  - " + yaml.safe_dump(entry, default_flow_style=True, width=1e9)
    )
    try:
        load_experiment(path, None)
    except FileError as exc:
        assert exc.line == 3, exc
        return str(exc)
    return None


def values(a: Attr) -> st.SearchStrategy[Any]:
    """Values of every shape, weighted towards this attribute's edges."""
    anything = st.one_of(
        st.booleans(),
        st.integers(-3, 3),
        st.integers(min_value=-(2**65), max_value=2**65),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
        st.lists(st.text(max_size=4), max_size=3),
    )
    if a.kind == "int":
        edges = st.sampled_from([a.minimum - 1, a.minimum, a.maximum, a.maximum + 1, 2.0, 2.5])
        return st.one_of(edges, st.integers(a.minimum - 5, a.minimum + 5), anything)
    if a.kind == "str":
        tricky = st.sampled_from(["", " ", "(", "[a-", "^insert", "57014", "4000", "x" * 4097])
        return st.one_of(st.sampled_from(a.choices or (a.default,)), tricky, anything)
    words = st.lists(st.sampled_from(["SET", "GET", "", "XADD"]), max_size=3)
    return st.one_of(words, st.just(["x"] * 1001), anything)


@pytest.mark.parametrize(("type_name", "attribute"), PAIRS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_the_server_the_client_and_the_file_accept_and_refuse_the_same_values(
    tmp_path, type_name, attribute, data
):
    a = next(x for x in SCHEMA[type_name].attrs if x.name == attribute)
    value = data.draw(values(a), label=attribute)
    attrs = {**baseline(type_name), attribute: value}
    server, client, file = (
        by_server(type_name, attrs),
        by_client(type_name, attrs),
        by_file(tmp_path, type_name, attrs),
    )
    assert (server is None) == (client is None) == (file is None), (server, client, file)
    if server is None:
        return
    # The client raises the server's own words.
    assert client == server
    # The file names the line and says why; where its reader refuses first (a nan, a
    # number beyond int64, a value of the wrong YAML type) the words are the reader's.
    readers_own = (
        isinstance(value, bool)
        or (isinstance(value, float) and not math.isfinite(value))
        or (isinstance(value, int) and abs(value) > MAX_INT)
        or not isinstance(value, {"int": (int, float), "str": str, "list": list}[a.kind])
    )
    if not readers_own:
        assert server in file, (server, file)


@pytest.mark.parametrize("type_name", sorted(SCHEMA))
def test_they_agree_on_the_directions_of_each_type(tmp_path, type_name):
    attrs = baseline(type_name)
    for direction in ("upstream", "downstream", "both", "sideways"):
        streams = ("upstream", "downstream") if direction == "both" else (direction,)
        server = all(
            _stream_accepted(type_name, stream, attrs) for stream in streams
        )  # both: a toxic on each stream
        client = by_client(type_name, {**attrs, "direction": direction}) is None
        file = _file_direction(tmp_path, type_name, attrs, direction)
        assert server == client == file, (direction, server, client, file)


def _stream_accepted(type_name: str, stream: str, attrs: dict[str, Any]) -> bool:
    try:
        ToxicCollection(lambda *_: None).add(
            {"type": type_name, "stream": stream, "attributes": attrs}
        )
    except ApiError:
        return False
    return True


def _file_direction(tmp_path, type_name: str, attrs: dict[str, Any], direction: str) -> bool:
    accepted = by_file(tmp_path, type_name, {**attrs, "direction": direction}) is None
    if not accepted and len(SCHEMA[type_name].streams) == 1 and direction == "upstream":
        # A type with one stream takes no direction key: it is that stream already.
        return by_file(tmp_path, type_name, attrs) is None
    return accepted


@pytest.mark.parametrize("toxicity", [-0.1, 0, 0.25, 1, 1.5, math.nan, math.inf, True, "1"])
def test_they_agree_on_toxicity(tmp_path, toxicity):
    attrs = baseline("latency")
    try:
        ToxicCollection(lambda *_: None).add(
            {"type": "latency", "toxicity": toxicity, "attributes": attrs}
        )
        server = True
    except ApiError:
        server = False
    client = by_client("latency", {**attrs, "toxicity": toxicity}) is None
    file = by_file(tmp_path, "latency", {**attrs, "toxicity": toxicity}) is None
    assert server == client == file == (toxicity in (0, 0.25, 1) and toxicity is not True)


def test_an_update_is_judged_on_the_merged_values_by_the_server_and_the_client():
    collection = ToxicCollection(lambda *_: None)
    toxic = collection.add({"type": "slicer", "attributes": {"average_size": 10}})
    with pytest.raises(ApiError) as server:
        collection.update(toxic.name, {"attributes": {"size_variation": 11}})
    fault = Link("db", CLIENT).slicer(10)
    with pytest.raises(ConfigError) as client:
        fault.update(size_variation=11)
    assert str(client.value) == server.value.message
    assert "accepted: 0 to average_size (10) bytes" in server.value.message


def test_a_client_typo_is_refused_though_the_server_would_ignore_it():
    # Toxiproxy ignores unknown attributes; a fault that silently lost its delay would
    # hold nothing, so the builder names what it accepts.
    assert by_server("pg_query", {"pattern": "x", "delay": 500}) is None
    message = by_client("pg_query", {"pattern": "x", "delay": 500})
    assert message == (
        "pg_query has no attribute 'delay'; accepted: pattern, action, delay_ms, sqlstate, "
        "message, count, clients"
    )


def test_a_new_schema_type_is_a_fault_type_of_the_experiment_file(tmp_path):
    # connect_delay and limit_time had no experiment-file table before the schema.
    text = textwrap.dedent(
        """\
        name: more
        faults:
          - {name: slow-connect, type: connect_delay, link: db, delay: 200, for: 1}
          - {name: cut, type: limit_time, link: db, time: 100, reset: 1, direction: both, for: 1}
        """
    )
    path = tmp_path / "exp.yml"
    path.write_text(text)
    assert load_experiment(path, None).name == "more"
    path.write_text(text.replace("reset: 1", "reset: 2"))
    with pytest.raises(
        FileError, match=r":4: faults\[1\].limit_time: attribute reset of limit_time"
    ):
        load_experiment(path, None)


def test_the_schema_refuses_an_unknown_type_naming_the_known_ones():
    with pytest.raises(ConfigError, match="toxic type 'lag' is not known; accepted: latency, "):
        Link("db", CLIENT).toxic("lag")
    assert schema.lookup("latency") is SCHEMA["latency"]
