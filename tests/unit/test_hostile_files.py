"""Hostile experiment and profile files are refused whole, before anything is applied.

Each used to start and then abort with a traceback (issue 18, defects 5, 13 and 15): a nan
or inf where a number of seconds goes, a log regex that does not compile, more faults on
one link than the proxy holds, a binary or 5,000-deep file, a profile naming a module
that does not exist, ``protected: null``. Every one must be a ConfigError naming the file
and line, what is wrong and what is accepted; ``invoke chaos.run`` exits 2 with it.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from chaoslib import yaml_lines
from chaoslib.errors import ConfigError
from chaoslib.experiment.file import load_experiment
from chaoslib.experiment.runner import Experiment
from chaoslib.profiles import load_profile
from chaoslib.yaml_lines import MAX_BYTES
from tests.hostile_files import DEEP_LIST, DEEP_MAP, GOOD, LOCAL, edit, many_faults, write


def refused(load, path: Path) -> str:
    """The message of the ConfigError loading ``path`` raises (any other error fails)."""
    with pytest.raises(ConfigError) as info:
        load(path)
    return str(info.value)


def experiment(path: Path) -> Experiment:
    return load_experiment(path, None)


# -- numbers: nan and inf anywhere, and numbers past any sane bound -------------------------

NUMBERS = {
    "at_nan": (edit("at: 0", "at: .nan"), 5, "faults[0].at", "must be a finite number, got nan"),
    "for_nan": (edit("for: 1", "for: .nan"), 5, "faults[0].for", "got nan"),
    "for_inf": (edit("for: 1", "for: .inf"), 5, "faults[0].for", "got inf"),
    "steady_for_inf": ("steady_for: .inf\n" + GOOD, 1, "steady_for", "got inf"),
    "observe_after_nan": ("observe_after: .nan\n" + GOOD, 1, "observe_after", "got nan"),
    "toxicity_nan": (edit("at: 0", "toxicity: .nan, at: 0"), 5, "faults[0].toxicity", "got nan"),
    "interval_nan": (edit("link: redis}", "link: redis, interval: .nan}"), 3, "interval", "nan"),
    "check_seconds_inf": (edit("seconds: 2", "seconds: .inf"), 7, "checks[0].seconds", "inf"),
    "flap_period_inf": (
        edit("for: 1}", "flap: {period: .inf, down: 1, cycles: 2}}"),
        5,
        "faults[0].flap.period",
        "got inf",
    ),
    "for_past_a_day": (
        edit("for: 1", "for: 1.0e+300"),
        5,
        "faults[0].for",
        "must be at most 86400, got 1e+300",
    ),
    "flap_cycles_in_the_billions": (
        edit("for: 1}", "flap: {period: 2, down: 1, cycles: 1000000000}}"),
        5,
        "faults[0].flap.cycles",
        "must be at most 10000",
    ),
    "latency_past_the_proxy_bound": (
        edit("latency: 10", "latency: 0x" + "f" * 40),
        5,
        "faults[0].latency",
        "160-bit whole number is too large",
    ),
    "down_for_nan": (
        edit(
            "type: latency, link: redis, latency: 10,",
            "type: restart, service: redis, down_for: .nan,",
        ),
        5,
        "faults[0].down_for",
        "got nan",
    ),
}


@pytest.mark.parametrize("case", sorted(NUMBERS))
def test_a_number_that_is_not_finite_or_sane_is_refused_with_its_line(tmp_path, case):
    text, line, key, problem = NUMBERS[case]
    path = write(tmp_path / "exp.yml", text)
    message = refused(experiment, path)
    assert message.startswith(f"{path}:{line}: "), message
    assert key in message and problem in message, message
    assert "(accepted: " in message, message


def test_a_timing_number_in_a_profile_must_be_finite(tmp_path):
    path = write(tmp_path / "p.yml", edit("      stabilize: 2\n", "      stabilize: .nan\n", LOCAL))
    message = refused(load_profile, path)
    assert "timings.fast.waits.stabilize: must be a finite number, got nan" in message


# -- regexes compile when the file is read ----------------------------------------------------


def test_a_logs_observer_regex_that_does_not_compile_is_refused_at_load(tmp_path):
    logs = "  - {type: logs, name: app, path: app.log, patterns: {opened: 'breaker (open'}}\n"
    path = write(tmp_path / "exp.yml", edit("observers:\n", "observers:\n" + logs))
    message = refused(experiment, path)
    assert message.startswith(f"{path}:3: observers[0].patterns.opened: "), message
    assert "'breaker (open' is not a valid regex: missing )" in message
    listed = edit("observers:\n", "observers:\n  - {type: logs, path: a.log, patterns: ['(']}\n")
    assert "observers[0].patterns[0]: '(' is not a valid regex" in refused(
        experiment, write(tmp_path / "list.yml", listed)
    )


def test_a_log_seen_check_regex_that_does_not_compile_is_refused_at_load(tmp_path):
    check = "  - {type: log_seen, pattern: '(', within: 1}\n"
    path = write(tmp_path / "exp.yml", GOOD + check)
    message = refused(experiment, path)
    assert message.startswith(f"{path}:8: checks[1].pattern: '(' is not a valid regex"), message


# -- how many faults: the proxy's toxic cap, and the file's own bound ---------------------------


def test_5000_simultaneous_faults_on_one_link_name_the_proxy_cap(tmp_path):
    path = write(tmp_path / "exp.yml", many_faults(5000))
    message = refused(experiment, path)
    # The 101st fault is the one the proxy would refuse: its line is named.
    assert message.startswith(f"{path}:103: faults[100].link: "), message
    assert "101 toxics would be on link 'l0' at once, 0 s into the faults" in message
    assert "the proxy holds at most 100 per link" in message


def test_direction_both_counts_two_toxics_against_the_cap(tmp_path):
    path = write(tmp_path / "exp.yml", many_faults(51, extra=", direction: both"))
    message = refused(experiment, path)
    assert "102 toxics would be on link 'l0' at once" in message
    assert "direction: both counts two" in message
    assert experiment(write(tmp_path / "ok.yml", many_faults(50, extra=", direction: both")))


def test_faults_that_follow_each_other_do_not_count_against_the_cap(tmp_path):
    # 150 faults on one link, each after the last: never more than one toxic at a time.
    assert experiment(write(tmp_path / "exp.yml", many_faults(150, at=lambda i: i))).name


def test_a_file_with_more_faults_than_the_bound_is_refused(tmp_path):
    # 1001 faults over 11 links: at most 91 toxics on any one, so only the count is wrong.
    path = write(tmp_path / "exp.yml", many_faults(1001, links=11))
    message = refused(experiment, path)
    assert message.startswith(f"{path}:2: faults: lists 1001 entries (accepted: at most 1000")


# -- files that are not small YAML text ----------------------------------------------------------

BINARY = {
    "random_bytes": (random.Random(18).randbytes(4096), "a binary file: it contains a NUL byte"),
    "nul_in_text": (b"name: a\nfaults: \x00\n", "a binary file: it contains a NUL byte"),
    "invalid_utf8": (b"name: ok\nfaults: \xff\xfe\n", "not UTF-8 text: byte 0xff at offset 17"),
    "deep_list": (DEEP_LIST.encode(), "nest more than 50 levels deep"),
    "deep_map": (DEEP_MAP.encode(), "nest more than 50 levels deep"),
    # Shallow text, deep data: each anchor is a list of the one before.
    "alias_chain": (
        (
            "a0: &a0 [1]\n"
            + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 200))
            + "name: *a199\n"
        ).encode(),
        "nest more than 50 levels deep",
    ),
    "over_a_mebibyte": (
        b"name: big\n" + b"# padding\n" * (MAX_BYTES // 10),
        f"the file is larger than {MAX_BYTES} bytes",
    ),
    "huge_number": (b"name: ok\nsteady_for: " + b"9" * 5000 + b"\n", "a value cannot be read"),
}


@pytest.mark.parametrize("case", sorted(BINARY))
def test_an_experiment_file_that_is_not_small_yaml_text_is_refused(tmp_path, case):
    content, problem = BINARY[case]
    path = write(tmp_path / "exp.yml", content)
    message = refused(experiment, path)
    assert message.startswith(str(path)) and problem in message, message


@pytest.mark.parametrize("case", sorted(BINARY))
def test_a_profile_file_that_is_not_small_yaml_text_is_refused(tmp_path, case):
    content, problem = BINARY[case]
    message = refused(load_profile, write(tmp_path / "p.yml", content))
    assert problem in message, message


@pytest.mark.parametrize("case", ["random_bytes", "deep_map", "invalid_utf8"])
def test_a_profile_that_extends_a_hostile_file_names_that_file(tmp_path, case):
    base = write(tmp_path / "base.yml", BINARY[case][0])
    child = write(tmp_path / "child.yml", "extends: base.yml\nname: child\n")
    message = refused(load_profile, child)
    assert message.startswith(str(base)) and BINARY[case][1] in message, message


def test_deep_nesting_inside_a_profile_that_extends_local_is_refused(tmp_path):
    child = write(tmp_path / "child.yml", "extends: local\n" + DEEP_MAP.replace("name", "x"))
    message = refused(load_profile, child)
    assert message.startswith(f"{child}:2: lists and mappings nest more than 50 levels deep")


def test_an_extends_chain_of_30_files_is_refused(tmp_path):
    write(tmp_path / "p0.yml", "extends: local\nname: p0\n")
    for i in range(1, 30):
        write(tmp_path / f"p{i}.yml", f"extends: p{i - 1}.yml\nname: p{i}\n")
    message = refused(load_profile, tmp_path / "p29.yml")
    assert "extends: the extends chain is more than 20 files long" in message


def test_a_directory_is_not_an_experiment_file(tmp_path):
    assert "not a regular file" in refused(experiment, tmp_path)


# -- profile switches and modules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("null", "must be true or false, got null"),
        ("", "must be true or false, got null"),
        ("~", "must be true or false, got null"),
        ("0", "must be bool, got 0"),
        ("'true'", "must be bool, got 'true'"),
    ],
)
def test_protected_must_be_true_or_false(tmp_path, value, problem):
    path = write(tmp_path / "p.yml", edit("protected: false", f"protected: {value}", LOCAL))
    message = refused(load_profile, path)
    line = LOCAL.splitlines().index("protected: false") + 1
    assert message.startswith(f"{path}:{line}: protected: {problem}"), message
    assert "(accepted: true or false)" in message


def test_compose_disposable_must_be_true_or_false(tmp_path):
    path = write(
        tmp_path / "p.yml", "extends: compose\nname: mine\ncompose:\n  files: [a.yml]\n"
        "  project: p\n  proxy_config: c.json\n  disposable: null\n",
    )  # fmt: skip
    message = refused(load_profile, path)
    assert message.startswith(f"{path}:7: compose.disposable: must be true or false, got null")


def test_a_profile_naming_a_module_that_does_not_exist_is_refused_at_load(tmp_path):
    text = edit(
        "module: chaoslib.examples.arbees.signals",
        "module: chaoslib.examples.arbees.signalz",
        LOCAL,
    )
    path = write(tmp_path / "p.yml", text)
    message = refused(load_profile, path)
    line = text.splitlines().index("    module: chaoslib.examples.arbees.signalz") + 1
    assert message.startswith(f"{path}:{line}: services.signals.module: "), message
    assert "service signals names module 'chaoslib.examples.arbees.signalz'" in message
    # A package without a __main__ cannot run with python -m either.
    package = write(
        tmp_path / "q.yml",
        edit("module: chaoslib.examples.arbees.signals", "module: examples", LOCAL),
    )
    assert "names module 'examples'" in refused(load_profile, package)


def test_a_module_is_looked_up_where_the_child_runs_not_where_invoke_started(tmp_path, monkeypatch):
    """The child runs ``python -m`` in the checkout with this process's environment: a module
    beside the shell's directory (this process's sys.path[0]) is not one it can run, and
    one on PYTHONPATH is, however invoke itself was started."""
    (tmp_path / "mysvc.py").write_text("print('ready')\n")
    text = edit("module: chaoslib.examples.arbees.signals", "module: mysvc", LOCAL)
    path = write(tmp_path / "p.yml", text)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path[1:]])
    assert "names module 'mysvc'" in refused(load_profile, path)
    monkeypatch.setattr(sys, "path", [sys.path[0], str(tmp_path), *sys.path[1:]])
    assert load_profile(path).services["signals"].module == "mysvc"


def test_a_key_written_over_a_merged_one_overrides_it_and_a_written_twice_key_is_refused(
    tmp_path,
):
    """``{<<: *lat, name: lat2}`` is how YAML merge keys are used: not a duplicate."""
    merged = write(
        tmp_path / "m.yml",
        "faults:\n"
        "  - &lat {name: lat, type: latency, link: redis, latency: 10, at: 0, for: 0.5}\n"
        "  - {<<: *lat, name: lat2, at: 0.6}\n",
    )
    doc = yaml_lines.load(merged)
    assert doc["faults"][1] == {**doc["faults"][0], "name": "lat2", "at": 0.6}
    twice = write(tmp_path / "t.yml", "faults:\n  - {name: a, name: b}\n")
    assert "duplicate key 'name'" in refused(yaml_lines.load, twice)
