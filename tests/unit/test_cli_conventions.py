"""CLI conventions: one meaning per short flag, durations with units, exit codes by kind,
help that agrees with the parser, and a refusal to share a package with chaostoolkit-lib.

Parsing goes through invoke's real Program and parser; the package check imports a real
copy of chaoslib from a site directory built in tmp_path.
"""

from __future__ import annotations

import io
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke import Collection, Exit, ParseError, Program, task
from rich.console import Console

from chaoslib import CHAOSTOOLKIT_MARKERS, chaostoolkit_files, check_package_dir
from chaoslib.cli.conventions import SHORT_FLAGS, apply_conventions, flag_map, tasks, usage_message
from chaoslib.cli.flags import DAY, duration, milliseconds, number, required
from chaoslib.cli.hold_output import HoldProgress
from chaoslib.cli.output import signal_exit_code
from chaoslib.errors import ChaosError
from chaoslib.experiment import Experiment
from chaoslib.faults import schedule
from chaoslib.faults.base import Fault
from chaoslib.faults.ledger import Ledger, LedgerEntry
from chaoslib.faults.signals import Terminated

PACKAGE = Path(__file__).resolve().parents[2] / "chaoslib"


# -- one short flag, one long flag -------------------------------------------------------
def _final_namespaces() -> dict[str, Collection]:
    from chaoslib.cli import namespace
    from chaoslib.cli.program import root_namespace

    return {"invoke (tasks.py)": namespace, "chaos (program)": root_namespace()}


@pytest.mark.parametrize("which", ["invoke (tasks.py)", "chaos (program)"])
def test_every_short_flag_of_every_task_means_the_tables_one_long_flag(which):
    namespace = _final_namespaces()[which]
    assert len(list(tasks(namespace))) >= 10
    meanings = flag_map(namespace)
    for short, longs in meanings.items():
        assert len(longs) == 1, f"-{short} means {sorted(longs)} ({which})"
        assert SHORT_FLAGS.get(short) in longs, f"-{short} is not in the table: {longs}"
    assert "h" not in meanings  # -h stays the help after any task name


@pytest.mark.parametrize("which", ["invoke (tasks.py)", "chaos (program)"])
def test_every_flag_in_the_table_has_its_short_form_wherever_it_appears(which):
    for name, one in tasks(_final_namespaces()[which]):
        for arg in one.get_arguments():
            if arg.name in SHORT_FLAGS.values() and not arg.positional:
                short = next(k for k, v in SHORT_FLAGS.items() if v == arg.name)
                assert short in arg.names, f"{name} --{arg.name} lacks -{short}"


def _collection() -> tuple[Collection, dict]:
    """Flags whose automatic short forms collided before: -f, -o and -c all meant force."""
    seen: dict = {}

    @task(incrementable=["verbose"], help={"force": "Force it.", "verbose": "More output."})
    def first(c, fragile=None, overlap=False, force=False, verbose=0, pattern=None, profile=None):
        seen.update(force=force, verbose=verbose, profile=profile, pattern=pattern)

    @task
    def second(c, only=None, client=None, force=False, period=None, duration=None):
        seen.update(force=force, duration=duration, client=client)

    return apply_conventions(Collection(first, Collection("sub", second))), seen


def _run(collection: Collection, *argv: str) -> None:
    Program(namespace=collection).run(["invoke", *argv], exit=False)


def _parse_error(collection: Collection, *argv: str) -> ParseError:
    """The parser's error for ``argv`` (Program.run prints it and exits 1 instead)."""
    program = Program(namespace=collection)
    program.create_config()
    with pytest.raises(ParseError) as caught:
        program.parse_core(["invoke", *argv])
        program.parse_collection()
        program.parse_tasks()
    return caught.value


def test_the_table_replaces_invokes_automatic_short_flags():
    collection, seen = _collection()
    shorts = {short: sorted(longs) for short, longs in flag_map(collection).items()}
    assert shorts == {"f": ["force"], "v": ["verbose"], "p": ["profile"], "d": ["duration"]}
    _run(collection, "first", "-f", "-p", "local", "--pattern", "^insert", "-vv")
    assert seen == {"force": True, "verbose": 2, "profile": "local", "pattern": "^insert"}
    _run(collection, "sub.second", "-f", "-d", "2s", "--client", "orchestrator")
    assert seen["force"] is True and seen["duration"] == "2s" and seen["client"] == "orchestrator"


def test_a_letter_that_is_no_longer_a_short_flag_is_refused():
    collection, _ = _collection()
    assert str(_parse_error(collection, "first", "-o")) == "No idea what '-o' is!"


def test_help_shows_a_counted_flag_without_a_value_and_keeps_every_help_text(capsys):
    collection, _ = _collection()
    for _ in range(2):  # invoke consumed each flag's help on the first read
        _run(collection, "--help", "first")
        out = capsys.readouterr().out
        assert "-v, --verbose" in out and "More output." in out
        assert "--verbose=INT" not in out and "-v INT" not in out
        assert "Force it." in out


def test_a_value_given_to_a_counted_flag_says_to_repeat_it():
    collection, _ = _collection()
    message = usage_message(_parse_error(collection, "first", "--verbose=2"))
    assert message.startswith("No idea what '2' is!")
    assert "--verbose takes no value: repeat the flag instead, -v for INFO, -vv for DEBUG" in (
        message
    )


def test_a_missing_positional_argument_is_said_like_a_missing_required_flag():
    @task(help={"file": "The experiment YAML file."})
    def run(c, file):
        pass

    error = _parse_error(apply_conventions(Collection(run)), "run")
    assert usage_message(error) == "--file is required: The experiment YAML file"


# -- durations and required flags ----------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2s", 2.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), ("1.5", 1.5), (None, 10.0),
     ("", 10.0), ("0", 0.0), ("24h", DAY)],
)  # fmt: skip
def test_duration_takes_units_and_bare_seconds(value, seconds):
    assert duration(value, "duration", 10) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "--duration='inf' is not a duration"),
        ("nan", "--duration='nan' is not a duration"),
        ("1e309", "--duration='1e309' is not a finite duration"),
        ("-1", "--duration='-1' is too short; use at least 0s and at most 24h"),
        ("2x", "--duration='2x' is not a duration; use a number of seconds, or a number with a "
               "unit: 500ms, 30s, 2m, 1h"),
        ("25h", "--duration='25h' is too long; use at least 0s and at most 24h"),
    ],
)  # fmt: skip
def test_duration_refuses_what_is_not_a_duration_with_exit_2(value, message):
    with pytest.raises(Exit) as caught:
        duration(value, "duration", 10)
    assert caught.value.code == 2
    assert message in caught.value.message


def test_number_parses_a_duration_flag_as_a_duration_until_every_task_calls_duration():
    assert number("2s", "duration", 10) == 2.0
    assert number("500ms", "recover-within", 10) == 0.5
    assert number("1.5", "period", 4, minimum=0.01) == 1.5
    with pytest.raises(Exit) as caught:
        number("5ms", "period", 4, minimum=0.01)
    assert caught.value.code == 2 and "--period='5ms' is too short" in caught.value.message
    assert number("7", "cycles", 3, integer=True) == 7  # not a duration: unchanged


def test_milliseconds_takes_bare_ms_and_units():
    assert milliseconds("700", "latency", 1000) == 700
    assert milliseconds("1.5s", "latency", 1000) == 1500
    assert milliseconds(None, "latency", 1000) == 1000
    with pytest.raises(Exit) as caught:
        milliseconds("nan", "latency", 1000)
    assert caught.value.code == 2 and "--latency='nan'" in caught.value.message


def test_a_missing_required_flag_names_the_flag_and_what_it_accepts():
    assert required("redis", "service", "redis or postgres") == "redis"
    for missing in (None, "", []):
        with pytest.raises(Exit) as caught:
            required(missing, "service", "redis or postgres")
        assert caught.value.code == 2
        assert caught.value.message == "chaoslib: --service is required: redis or postgres"


# -- exit codes ----------------------------------------------------------------------------
def test_a_signal_exits_128_plus_its_number():
    assert signal_exit_code(KeyboardInterrupt()) == 130
    assert signal_exit_code(Terminated(signal.SIGTERM)) == 143
    assert signal_exit_code(Terminated(signal.SIGHUP)) == 129
    # What a journal or a suite records of the signal that ended it.
    assert signal_exit_code(str(Terminated(signal.SIGTERM))) == 143
    assert signal_exit_code("interrupted (KeyboardInterrupt); every fault was healed") == 130
    assert signal_exit_code(None) == 130


# -- chaostoolkit-lib in the same package directory ----------------------------------------
def test_this_package_ships_none_of_chaostoolkit_libs_marker_files():
    assert chaostoolkit_files(PACKAGE) == []
    assert not [name for name in CHAOSTOOLKIT_MARKERS if (PACKAGE / name).exists()]


def test_check_package_dir_raises_a_chaos_error_naming_what_to_do(tmp_path):
    (tmp_path / "rollback.py").write_text("")
    check_package_dir(tmp_path)  # one file: a coincidence
    (tmp_path / "secret.py").write_text("")
    with pytest.raises(ChaosError, match=r"\(rollback.py, secret.py\).*python -m venv"):
        check_package_dir(tmp_path)


class _InterruptedApply(Fault):
    """Sets its state, then a Ctrl-C lands before the apply returns."""

    def __init__(self, signalled: Callable[[], BaseException], ledger: Ledger) -> None:
        super().__init__(ledger=ledger)
        self.signalled, self.set_now = signalled, False

    def _apply(self) -> None:
        self.set_now = True
        raise self.signalled()

    def _heal(self) -> None:
        self.set_now = False

    def ledger_entry(self) -> LedgerEntry:
        return LedgerEntry("toxic", {}, "the cut")

    def describe(self) -> str:
        return "the cut"


@pytest.mark.parametrize("hold", ["for_60s", "until_ctrl_c"])
@pytest.mark.parametrize(
    "signalled", [KeyboardInterrupt, lambda: Terminated(signal.SIGTERM)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_mid_apply_is_said_and_what_the_fault_set_is_removed(signalled, hold, tmp_path):
    """Even in a hold until Ctrl-C, a Ctrl-C that lands in the apply is an interruption,
    not the hold's planned end: no fault was held, so there is no recovery to judge."""
    out = Console(file=io.StringIO(), width=200)
    fault = _InterruptedApply(signalled, Ledger(tmp_path))
    exp = Experiment("hold", steady_for=0, observe_after=0)
    exp.add("cut", fault, schedule.once(0, 60) if hold == "for_60s" else schedule.until_stopped())
    journal = HoldProgress("the cut", out).run(exp)
    assert journal.status == "interrupted" and not exp.stopped
    said = out.file.getvalue()
    assert "Interrupted while applying: the cut; what it had set is removed" in said, said
    assert not fault.set_now and not fault.applied and not Ledger(tmp_path).entries()
    assert exp.interrupted_by is not None
