"""Experiment files are validated whole, before anything runs; errors give file, line, key, fix."""

from __future__ import annotations

import textwrap

import pytest

from chaoslib.experiment.file import load_experiment
from chaoslib.yaml_lines import FileError
from tests.helpers import REPO

GOOD = """\
name: ok
observers:
  - {type: redis_ping, name: redis, link: redis}
  - {type: stream_workload, name: stream, link: redis}
faults:
  - {name: cut, type: down, link: redis, at: 0, for: 1}
checks:
  - {type: recovered_within, observer: redis, seconds: 2}
  - {type: no_loss, workload: stream}
"""


PACKET = "type: packet, service: redis, kind: rate, value: 800,"


def write(tmp_path, text: str):
    path = tmp_path / "exp.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_statement_faults_load(tmp_path):
    text = GOOD.replace(
        "type: down,", "type: pg_query, pattern: INSERT INTO game_states, delay_ms: 500,"
    )
    assert load_experiment(write(tmp_path, text), None).name == "ok"


def test_packet_faults_load(tmp_path):
    for kind, value in (("rate", 800), ("loss", 12.5), ("delay", 100), ("corrupt", 1)):
        text = GOOD.replace(
            "type: down, link: redis,",
            PACKET.replace("rate, value: 800", f"{kind}, value: {value}"),
        )
        assert load_experiment(write(tmp_path, text), None).name == "ok"


def test_packet_errors_say_what_is_accepted(tmp_path):
    bad_kind = GOOD.replace("type: down, link: redis,", PACKET.replace("kind: rate", "kind: lag"))
    with pytest.raises(FileError) as info:
        load_experiment(write(tmp_path, bad_kind), None)
    assert "accepted: rate, loss, delay, duplicate, corrupt" in str(info.value)
    too_much = GOOD.replace(
        "type: down, link: redis,", PACKET.replace("rate, value: 800", "loss, value: 101")
    )
    with pytest.raises(FileError) as info:
        load_experiment(write(tmp_path, too_much), None)
    assert "accepted: % > 0 and <= 100" in str(info.value)


def test_a_packet_fault_without_containers_names_its_line_and_the_fix(tmp_path):
    from chaoslib.faults.ledger import Ledger
    from chaoslib.target import Target
    from chaoslib.toxiproxy.client import Toxiproxy

    # The embedded stack's shape: no containers, so nowhere for a packet fault to live.
    local = Target(Toxiproxy("http://127.0.0.1:9"), ledger=Ledger(tmp_path), kind="local")
    text = f"name: p\nfaults:\n  - {{name: thin, {PACKET} for: 1}}\n"
    path = write(tmp_path, text)
    with pytest.raises(FileError) as info:
        load_experiment(path, local)
    message = str(info.value)
    assert message.startswith(f"{path}:3: faults[0].service:"), message
    assert "needs docker mode" in message and "--profile compose" in message
    assert Ledger(tmp_path).entries() == []  # refused while reading: nothing was applied


def test_a_good_file_loads(tmp_path):
    experiment = load_experiment(write(tmp_path, GOOD), None)
    assert experiment.name == "ok" and len(experiment.checks) == 2


@pytest.mark.parametrize("example", sorted((REPO / "experiments").glob("*.yml")))
def test_shipped_examples_are_valid(example):
    assert load_experiment(example, None).name


BAD = {
    "not_a_mapping": ("- just a list\n", 1, "", "must be a YAML mapping"),
    "invalid_yaml": ("name: [unclosed\n", 2, "", "not valid YAML"),
    "duplicate_key": ("name: a\nname: b\nfaults: []\n", 2, "", "duplicate key 'name'"),
    "unknown_top_key": (GOOD + "extra: 1\n", 10, "extra", "unknown key"),
    "missing_name": (GOOD.replace("name: ok\n", ""), 1, "name", "is required"),
    "bad_timing": ("timing: slow\n" + GOOD, 1, "timing", "'slow' is not valid"),
    "no_faults": (GOOD.split("faults:")[0] + "faults: []\n", 5, "faults", "at least one"),
    "unknown_fault_type": (
        GOOD.replace("type: down", "type: explode"),
        6,
        "faults[0].type",
        "'explode' is not valid",
    ),
    "missing_link": (GOOD.replace(" link: redis, at", " at"), 6, "faults[0].link", "is required"),
    "negative_for": (GOOD.replace("for: 1", "for: -1"), 6, "faults[0].for", "must be >= 0"),
    "string_for": (GOOD.replace("for: 1", "for: soon"), 6, "faults[0].for", "is not a duration"),
    "boolean_is_not_a_number": (
        GOOD.replace("for: 1", "for: yes"),
        6,
        "faults[0].for",
        "must be a duration, got True",
    ),
    "unknown_fault_key": (
        GOOD.replace("at: 0,", "at: 0, colour: red,"),
        6,
        "colour",
        "unknown key in faults[0]",
    ),
    "toxic_attribute_missing": (
        GOOD.replace("type: down", "type: latency"),
        6,
        "faults[0].latency",
        "is required",
    ),
    "toxicity_above_one": (
        GOOD.replace("type: down,", "type: down, toxicity: 2,"),
        6,
        "faults[0].toxicity",
        "at most 1",
    ),
    "flap_and_for": (
        GOOD.replace("for: 1}", "for: 1, flap: {period: 2, down: 1, cycles: 2}}"),
        6,
        "faults[0].for",
        "cannot be combined with flap",
    ),
    "flap_down_too_long": (
        GOOD.replace("for: 1}", "flap: {period: 1, down: 2, cycles: 2}}"),
        6,
        "faults[0].flap",
        "down time must be > 0 and < the period",
    ),
    "duplicate_fault_name": (
        GOOD.replace("checks:", "  - {name: cut, type: down, link: redis, for: 1}\nchecks:"),
        7,
        "name",
        "used twice",
    ),
    "unknown_observer_in_check": (
        GOOD.replace("observer: redis", "observer: nope"),
        8,
        "checks[0].observer",
        "no observer is named 'nope'",
    ),
    "unknown_fault_in_check": (
        GOOD.replace("observer: redis,", "observer: redis, fault: nope,"),
        8,
        "checks[0].fault",
        "no fault is named 'nope'",
    ),
    "unknown_check_type": (
        GOOD.replace("type: no_loss", "type: vibes"),
        9,
        "checks[1].type",
        "'vibes' is not valid",
    ),
    "faults_not_a_list": (GOOD.split("faults:")[0] + "faults: 3\n", 5, "faults", "must be list"),
    "pg_query_bad_regex": (
        GOOD.replace("type: down,", "type: pg_query, pattern: '(',"),
        6,
        "faults[0].pg_query",
        "pattern of pg_query is not a regex",
    ),
    "redis_command_bad_action": (
        GOOD.replace("type: down,", "type: redis_command, commands: [SET], action: boom,"),
        6,
        "faults[0].redis_command",
        "accepted: delay, error, close",
    ),
    "packet_service_missing": (
        GOOD.replace("type: down, link: redis,", "type: packet, kind: rate, value: 800,"),
        6,
        "faults[0].service",
        "is required",
    ),
    "packet_kind_unknown": (
        GOOD.replace("type: down, link: redis,", "type: packet, service: redis, kind: jitter,"),
        6,
        "faults[0].kind",
        "'jitter' is not valid",
    ),
    "packet_value_missing": (
        GOOD.replace("type: down, link: redis,", "type: packet, service: redis, kind: loss,"),
        6,
        "faults[0].value",
        "is required",
    ),
    "packet_loss_above_100": (
        GOOD.replace(
            "type: down, link: redis,", PACKET.replace("rate, value: 800", "loss, value: 150")
        ),
        6,
        "faults[0].value",
        "150 is out of range for loss",
    ),
    "packet_rate_zero": (
        GOOD.replace("type: down, link: redis,", PACKET.replace("value: 800", "value: 0")),
        6,
        "faults[0].value",
        "0 is out of range for rate",
    ),
    "packet_delay_not_whole_ms": (
        GOOD.replace(
            "type: down, link: redis,", PACKET.replace("rate, value: 800", "delay, value: 1.5")
        ),
        6,
        "faults[0].value",
        "1.5 is out of range for delay",
    ),
    "packet_value_not_a_number": (
        GOOD.replace("type: down, link: redis,", PACKET.replace("value: 800", "value: lots")),
        6,
        "faults[0].value",
        "must be int or float",
    ),
    "packet_with_a_link": (
        GOOD.replace("type: down, link: redis,", PACKET + " link: redis,"),
        6,
        "link",
        "unknown key in faults[0]",
    ),
    "redis_command_commands_not_a_list": (
        GOOD.replace("type: down,", "type: redis_command, commands: SET,"),
        6,
        "faults[0].commands",
        "must be list",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_kind_of_bad_file_is_rejected_with_line_key_and_reason(tmp_path, case):
    text, line, key, problem = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(FileError) as info:
        load_experiment(path, None)
    error = info.value
    message = str(error)
    assert message.startswith(f"{path}:{line}:" if line else str(path)), message
    assert problem in message
    if key:
        assert key in message
    assert error.line == line


def test_errors_say_what_is_accepted(tmp_path):
    with pytest.raises(FileError) as info:
        load_experiment(write(tmp_path, GOOD.replace("type: down", "type: explode")), None)
    assert "accepted:" in str(info.value) and "latency" in str(info.value)


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(FileError, match="cannot read the file"):
        load_experiment(tmp_path / "nope.yml", None)
