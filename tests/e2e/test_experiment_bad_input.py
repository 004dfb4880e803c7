"""Bad input in an experiment file: refused at validation with its line, exit code 2.

Issue 20: ``at: .nan`` passed validation and gave a ValueError mid-run; a ``tcp``
observer on ``timescaledb`` (postgresql://user:pw@host:port/db) gave an IndexError.
Durations take units (``500ms``, ``2s``, ``1m``) as everywhere else.
"""

from __future__ import annotations

import json
import textwrap
from urllib.parse import urlsplit

import pytest

from chaoslib.errors import ConfigError
from chaoslib.experiment.file import load_experiment, tcp_address
from chaoslib.target.open import open_target
from chaoslib.yaml_lines import FileError
from tests.helpers import run_invoke

EXPERIMENT = """\
name: bad-input
steady_for: 0.2
observe_after: 0.5
observers:
  - {type: tcp, name: db, link: timescaledb, interval: 50ms}
faults:
  - {name: slow, type: latency, link: timescaledb, latency: 100, at: AT, for: 500ms}
checks:
  - {type: eventually_ok, observer: db, within: 5s}
"""


def write(tmp_path, text: str):
    path = tmp_path / "exp.yml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (".nan", "must be a finite number, got nan"),
        (".inf", "must be a finite number, got inf"),
        ("-.inf", "must be a finite number, got -inf"),
        ("-1", "must be >= 0.0, got -1"),
        ("nan", "'nan' is not a duration"),
        ("inf", "'inf' is not a duration"),
        ("-1s", "'-1s' is too short"),
        ("2 fortnights", "'2 fortnights' is not a duration"),
        ("25h", "'25h' is too long"),
    ],
)
def test_a_start_that_is_not_a_duration_is_refused_with_its_line(tmp_path, at, problem):
    path = write(tmp_path, EXPERIMENT.replace("AT", at))
    with pytest.raises(FileError) as info:
        load_experiment(path, None)
    assert str(info.value).startswith(f"{path}:7: faults[0].at: {problem}"), info.value
    assert "accepted: " in str(info.value) or "a number with a unit: 500ms" in str(info.value)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("postgresql://chaos:secret@127.0.0.1:5433/arbees", ("127.0.0.1", 5433)),
        ("redis://127.0.0.1:6380/0", ("127.0.0.1", 6380)),
        ("redis://:pw@[::1]:6379/0", ("::1", 6379)),
        ("postgresql://localhost:5432", ("localhost", 5432)),
    ],
)
def test_a_tcp_observer_connects_to_the_urls_host_and_port(url, address):
    assert tcp_address(url) == address


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://chaos:secret@db.internal/arbees",  # no port
        "postgresql://chaos:secret@127.0.0.1:notaport/arbees",
        "postgresql:///arbees?host=/run/postgresql",  # a socket: no host, no port
        "redis://chaos:secret@127.0.0.1:99999/0",
    ],
)
def test_a_url_without_host_and_port_is_a_clear_error_without_its_password(url):
    with pytest.raises(ConfigError) as info:
        tcp_address(url)
    message = str(info.value)
    assert message.startswith("a tcp observer needs a host and port, and the link's URL ")
    assert "accepted: a link whose URL is like redis://127.0.0.1:6379/0" in message
    assert "secret" not in message


# -- through the CLI, against a running stack --------------------------------------------
@pytest.fixture(scope="module")
def home(stack_home):
    return stack_home


def test_durations_take_units_as_the_task_flags_do(home, tmp_path):
    text = EXPERIMENT.replace("AT", "1.5s").replace("steady_for: 0.2", "steady_for: 200ms")
    text += "  - {type: recovered_within, observer: db, seconds: 1m}\n"
    text = text.replace(
        "  - {name: slow,",
        "  - {name: flap, type: down, link: redis, at: 2m, flap: {period: 1s, down: 300ms, "
        "cycles: 2}}\n  - {name: slow,",
    )
    target = open_target(None, home)
    exp = load_experiment(write(tmp_path, text), target)
    assert exp.steady_for == pytest.approx(0.2)
    windows = {
        name: [(w.start, pytest.approx(w.duration)) for w in step.windows]
        for name, step in exp.steps.items()
    }
    assert windows == {"flap": [(120.0, 0.3), (121.0, 0.3)], "slow": [(1.5, 0.5)]}
    # The URL that gave an IndexError: a user before the host.
    url = urlsplit(target.url("timescaledb"))
    assert url.scheme.startswith("postgres") and url.username
    (probe,) = exp.observers
    assert probe.address == (url.hostname, url.port)


@pytest.mark.parametrize("at", [".nan", ".inf", "-1"])
def test_chaos_run_refuses_a_bad_start_with_exit_code_2(home, tmp_path, at):
    path = write(tmp_path, EXPERIMENT.replace("AT", at))
    result = run_invoke(home, "chaos.run", str(path), "--journal", str(tmp_path / "j.json"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}:7: faults[0].at: must be" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "j.json").exists()  # refused before anything ran


def test_chaos_run_probes_timescaledb_over_tcp(home, tmp_path):
    path = write(tmp_path, EXPERIMENT.replace("AT", "0"))
    journal = tmp_path / "journal.json"
    result = run_invoke(home, "chaos.run", str(path), "--journal", str(journal))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(journal.read_text())
    assert data["status"] == "passed", data
    assert "IndexError" not in result.stderr
