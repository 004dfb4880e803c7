"""The profile's contract and settings: each key's bad values are refused at load, at the file
and line they were written, with what is accepted; the parts a scenario reads behave as the
contract says (heartbeat paths, command templates, alert lines, env units, the backoff rule)."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

from chaoslib.experiment.journal import FaultEvent
from chaoslib.experiment.runner import RunContext
from chaoslib.observe.history import Event, History
from chaoslib.profiles import load_profile
from chaoslib.profiles.contract import (
    ALERTS,
    METRICS,
    AlertSinks,
    CommandsDef,
    Contract,
    HeartbeatDef,
    Roles,
)
from chaoslib.profiles.timings import SETTINGS, UNITS
from chaoslib.scenarios.base import ScenarioRun
from chaoslib.scenarios.common import Delay, backoff, jitter_seen, jitter_spread
from chaoslib.target.system import SystemBase
from chaoslib.yaml_lines import FileError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def rejected(path: Path) -> FileError:
    with pytest.raises(FileError) as info:
        load_profile(path)
    return info.value


def line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


BARE = (
    "name: bare\nservices:\n  app:\n"
    f"    command: [{sys.executable}, -c, pass]\n"
    "timings:\n  fast: {}\n  seed: {}\n"
)


# Each case: the child profile (it extends local, so only the bad key is written), the text
# on the line the error must name, the key and problem it must say, and what it accepts.
BAD = {
    "roles_name_a_missing_service": (
        "contract:\n  roles:\n    workers: [shard_01, shard_09]\n",
        "workers:",
        "contract.roles.workers: no service is named shard_09",
        "orchestrator, shard_01, shard_02, signals",
    ),
    "victim_not_a_worker": (
        "contract:\n  roles:\n    victim: signals\n",
        "victim:",
        "contract.roles.victim: signals is not one of the workers",
        "shard_01, shard_02",
    ),
    "victim_is_the_survivor": (
        "contract:\n  roles:\n    victim: shard_02\n    survivor: shard_02\n",
        "survivor:",
        "contract.roles.survivor: the survivor must differ from the victim",
        "another worker",
    ),
    "coordinator_is_a_worker": (
        "contract:\n  roles:\n    coordinator: shard_01\n",
        "coordinator:",
        "contract.roles.coordinator: the coordinator cannot also be a worker",
        "a service that is not in workers",
    ),
    "heartbeat_channel_without_a_worker_path": (
        "contract:\n  heartbeat:\n    channel: 'beat:*'\n    worker: null\n",
        "channel:",  # a missing key is reported at its mapping
        "contract.heartbeat.worker: is required with a channel",
        "a dotted path",
    ),
    "heartbeat_channel_without_an_items_path": (
        "contract:\n  heartbeat:\n    channel: 'beat:*'\n    items: null\n",
        "channel:",
        "contract.heartbeat.items: is required with a channel",
        "a dotted path",
    ),
    "a_path_that_is_not_dotted": (
        "contract:\n  heartbeat:\n    worker: meta..id\n",
        "worker:",
        "contract.heartbeat.worker: 'meta..id' is not a dotted path",
        "e.g. metrics.db.ok",
    ),
    "a_metric_path_with_a_space": (
        "contract:\n  heartbeat:\n    metrics:\n      retries: metrics.db retries\n",
        "retries:",
        "contract.heartbeat.metrics.retries: 'metrics.db retries' is not a dotted path",
        "e.g. metrics.db.ok",
    ),
    "an_unknown_metric_key": (
        "contract:\n  heartbeat:\n    metrics:\n      latency_ms: metrics.latency\n",
        "latency_ms:",
        "latency_ms: unknown key in contract.heartbeat.metrics",
        ", ".join(sorted(METRICS)),
    ),
    "commands_channel_without_worker": (
        "contract:\n  commands:\n    channel: 'shard:command'\n",
        "channel:",
        "contract.commands.channel: names no {worker}",
        "e.g. worker:{worker}:commands",
    ),
    "command_template_without_item": (
        "contract:\n  commands:\n    add_item: {type: add_game, game_id: all}\n",
        "add_item:",
        "contract.commands.add_item: names no {item}",
        'a JSON message, e.g. {type: add, id: "{item}"}',
    ),
    "state_rows_without_the_window": (
        "contract:\n  state_store:\n    rows: SELECT game_id, shard_id, 0 FROM game_states\n",
        "rows:",
        "contract.state_store.rows: must use %(since)s and %(until)s",
        "WHERE t BETWEEN %(since)s AND %(until)s",
    ),
    "state_rows_with_only_since": (
        "contract:\n  state_store:\n    rows: SELECT a, b, c FROM t WHERE t > %(since)s\n",
        "rows:",
        "contract.state_store.rows: must use %(since)s and %(until)s",
        "%(since)s AND %(until)s",
    ),
    "state_writes_not_a_regex": (
        "contract:\n  state_store:\n    writes: 'INSERT (INTO'\n",
        "writes:",
        "contract.state_store.writes: is not a valid regex",
        "",
    ),
    "consumer_mark_without_worker": (
        "contract:\n  signals:\n    consumer_mark: 'signals:contiguous'\n",
        "consumer_mark:",
        "contract.signals.consumer_mark: names no {worker}",
        "e.g. seen:{worker}",
    ),
    "an_unknown_alert_key": (
        "contract:\n  alerts:\n    disk_full: DiskFull\n",
        "disk_full:",
        "disk_full: unknown key in contract.alerts",
        ", ".join(sorted(ALERTS)),
    ),
    "jsonl_alert_file_without_a_field": (
        "contract:\n  alert_sinks:\n    file: {format: jsonl}\n",
        "file:",
        "contract.alert_sinks.file.field: is required",
        "",
    ),
    "text_alert_file_match_without_name": (
        "contract:\n  alert_sinks:\n    file: {format: text, match: 'ALERT'}\n",
        "file:",
        "contract.alert_sinks.file.match: names no {name}",
        'e.g. " | {name} | "',
    ),
    "an_unknown_alert_file_format": (
        "contract:\n  alert_sinks:\n    file: {format: csv}\n",
        "file:",
        "contract.alert_sinks.file.format: 'csv' is not valid",
        "text, jsonl",
    ),
    "an_unknown_log_pattern_key": (
        "contract:\n  log_patterns:\n    disk_full: 'No space left'\n",
        "disk_full:",
        "contract.log_patterns.disk_full: is not a pattern any scenario reads",
        "redis_disconnected, redis_retry",
    ),
    "a_named_group_no_check_reads": (
        "contract:\n  log_patterns:\n    worker_dead: 'Service (?P<shard>\\S+) marked as Dead'\n",
        "worker_dead:",
        "contract.log_patterns.worker_dead: has named group(s) shard that no check reads",
        "(?P<worker>…)",
    ),
    "a_named_group_on_a_pattern_without_groups": (
        "contract:\n  log_patterns:\n    db_recovered: 'recovered after (?P<secs>\\d+)s'\n",
        "db_recovered:",
        "has named group(s) secs that no check reads",
        "no named groups",
    ),
    "a_setting_not_in_settings": (
        "timings:\n  fast:\n    settings:\n      shard_timeout: 3\n",
        "shard_timeout:",
        "shard_timeout: unknown key in timings.fast.settings",
        ", ".join(sorted(SETTINGS)),
    ),
    "settings_env_naming_an_unknown_setting": (
        "settings_env:\n  SHARD_TIMEOUT_SECS: shard_timeout\n",
        "SHARD_TIMEOUT_SECS:",
        "settings_env.SHARD_TIMEOUT_SECS: no setting 'shard_timeout' in timings.*.settings",
        "alert_rate_limit, db_alert_threshold",
    ),
    "settings_env_mapping_an_unknown_setting": (
        "settings_env:\n  X_MS:\n    setting: shard_timeout\n    unit: ms\n",
        "setting:",
        "settings_env.X_MS.setting: no setting 'shard_timeout' in timings.*.settings",
        "worker_timeout",
    ),
    "settings_env_with_an_unknown_unit": (
        "settings_env:\n  X_MIN:\n    setting: worker_timeout\n    unit: min\n",
        "unit:",
        "settings_env.X_MIN.unit: 'min' is not valid",
        ", ".join(UNITS),
    ),
    "settings_env_with_an_unknown_key": (
        "settings_env:\n  X_MS:\n    setting: worker_timeout\n    scale: 1000\n",
        "scale:",
        "scale: unknown key in settings_env.X_MS",
        "setting, unit",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_each_bad_contract_or_settings_value_is_refused_at_its_line(tmp_path, case):
    body, marker, says, accepted = BAD[case]
    child = write(tmp_path / "my.yml", f"extends: local\nname: mine\n{body}")
    info = rejected(child)
    message = str(info)
    assert (info.path, info.line) == (str(child), line_of(child, marker)), message
    assert message.startswith(f"{child}:{info.line}: "), message
    assert says in message, message
    if accepted:
        assert accepted in info.accepted and "(accepted: " in message, message


@pytest.mark.parametrize(
    ("setting", "value"),
    [("item_count", 12.5), ("db_alert_threshold", 2.5), ("reconnect_jitter", 3)],
)
def test_a_setting_outside_its_units_range_is_refused(tmp_path, setting, value):
    child = write(
        tmp_path / "my.yml",
        f"extends: local\ntimings:\n  fast:\n    settings:\n      {setting}: {value}\n",
    )
    info = rejected(child)
    assert (info.path, info.line) == (str(child), 5), str(info)
    assert f"timings.fast.settings.{setting}" in str(info)


def test_a_bad_key_inherited_from_a_base_is_reported_in_the_base(tmp_path):
    base = write(
        tmp_path / "base.yml", "extends: local\ncontract:\n  roles:\n    victim: signals\n"
    )
    child = write(tmp_path / "my.yml", "extends: base.yml\nname: mine\n")
    info = rejected(child)
    assert (info.path, info.line) == (str(base), 4)
    assert "contract.roles.victim: signals is not one of the workers" in str(info)


def test_a_heartbeat_without_a_channel_needs_no_paths(tmp_path):
    # No channel: the heartbeat is not listened to, so nothing in it is required.
    bare = write(
        tmp_path / "p.yml",
        BARE + "contract:\n  heartbeat: {status: state, healthy: [ok]}\n",
    )
    heartbeat = load_profile(bare).contract.heartbeat
    assert (heartbeat.channel, heartbeat.worker, heartbeat.status) == ("", "", "state")
    assert heartbeat.read({"state": "ok"}) is None  # it names no worker


# -- every part is optional -----------------------------------------------------------------


@pytest.mark.parametrize("contract", ["", "contract:\n", "contract: {}\n"])
def test_a_profile_without_a_contract_loads_with_an_empty_one(tmp_path, contract):
    profile = load_profile(write(tmp_path / "p.yml", BARE + contract))
    assert profile.contract == Contract()
    assert profile.workers() == []
    assert profile.env_for("fast") == {} and profile.settings_env == {}


def test_the_empty_contract_declares_nothing():
    empty = Contract()
    assert empty.roles == Roles() and empty.roles.workers == ()
    assert empty.heartbeat.channel == "" and empty.heartbeat.metrics == {}
    assert empty.commands.channel == "" and empty.commands.add_item == {}
    assert (empty.items, empty.state_rows, empty.state_writes) == ((), "", "")
    assert empty.signals.stream == "" and empty.alerts == {} and empty.log_patterns == {}
    assert empty.sinks.file_format == "" and empty.sinks.webhook_field == ""
    assert empty.groups("redis_retry") == set()


def test_one_part_alone_loads_and_the_rest_stays_empty(tmp_path):
    text = BARE + "contract:\n  log_patterns:\n    crash: Traceback\n"
    contract = load_profile(write(tmp_path / "p.yml", text)).contract
    assert contract.log_patterns == {"crash": "Traceback"}
    assert contract == Contract(log_patterns={"crash": "Traceback"})


def test_the_reference_profile_declares_every_part():
    contract = load_profile("local").contract
    assert contract.roles == Roles("orchestrator", ("shard_01", "shard_02"), "shard_01", "shard_02")
    assert set(contract.heartbeat.metrics) == set(METRICS)
    assert set(contract.alerts) == set(ALERTS)
    assert contract.commands.channel == "shard:{worker}:command"
    assert contract.signals.consumer_mark == "signals:contiguous:{worker}"
    assert contract.groups("redis_retry") == {"attempt", "delay_ms"}
    assert contract.groups("subscribed") == set()


# -- the heartbeat, read by dotted paths ------------------------------------------------------

HEARTBEAT = HeartbeatDef(
    channel="beat:*",
    worker="who.id",
    items="assigned",
    process="who.proc",
    status="health.0.state",
    started="times.started",
    sent="times.sent",
    metrics={"writes_ok": "metrics.db.ok", "retries": "metrics.db.retries", "reconnects": "r"},
)


def test_a_heartbeat_is_read_through_nested_mappings_and_list_indexes():
    payload = {
        "who": {"id": "w1", "proc": 4242},
        "assigned": ["g1", 2, "g3"],
        "health": [{"state": "healthy"}, {"state": "old"}],
        "times": {"started": "2026-01-01T00:00:00Z", "sent": "2026-01-01T00:00:05Z"},
        "metrics": {"db": {"ok": 7, "retries": 1.5}},
        "r": 3,
    }
    beat = HEARTBEAT.read(payload, t=12.5)
    assert beat is not None
    assert (beat.t, beat.worker, beat.process, beat.status) == (12.5, "w1", "4242", "healthy")
    assert beat.items == frozenset({"g1", "2", "g3"})  # every item as text
    assert (beat.started, beat.sent) == ("2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z")
    assert beat.metrics == {"writes_ok": 7.0, "retries": 1.5, "reconnects": 3.0}
    assert beat.metric("writes_failed") is None


def test_missing_paths_leave_facts_empty_not_guessed():
    beat = HEARTBEAT.read({"who": {"id": 7}, "health": [], "metrics": {"db": "down"}})
    assert beat is not None and beat.worker == "7"
    assert beat.items == frozenset()
    assert (beat.process, beat.status, beat.started, beat.sent) == ("", "", "", "")
    assert beat.metrics == {}  # metrics.db is no mapping: metrics.db.ok is missing


def test_items_that_are_not_a_list_are_no_items():
    for items in ("g1,g2", {"g1": True}, 3, None):
        beat = HEARTBEAT.read({"who": {"id": "w"}, "assigned": items})
        assert beat is not None and beat.items == frozenset(), items


def test_a_payload_that_is_not_a_mapping_or_names_no_worker_is_no_heartbeat():
    for payload in (None, "w1", 3, ["w1"], [{"who": {"id": "w1"}}], {"who": {}}, {"who": "w1"}):
        assert HEARTBEAT.read(payload) is None, payload
    assert HeartbeatDef(channel="beat:*").read({"id": "w1"}) is None  # no worker path


def test_only_numbers_count_as_metrics():
    payload = {
        "who": {"id": "w"},
        "metrics": {"db": {"ok": True, "retries": "5"}},  # a bool is no count, nor is text
        "r": 0,
    }
    beat = HEARTBEAT.read(payload)
    assert beat is not None and beat.metrics == {"reconnects": 0.0}


def test_a_list_index_out_of_range_or_not_a_number_is_missing():
    for status in ("health.1.state", "health.-1.state", "health.x.state"):
        heartbeat = HeartbeatDef(worker="id", status=status)
        beat = heartbeat.read({"id": "w", "health": [{"state": "healthy"}]})
        assert beat is not None and beat.status == "", status


# -- settings reach each service in its own units ---------------------------------------------

UNITS_PROFILE = (
    "name: units\nservices:\n  app:\n"
    f"    command: [{sys.executable}, -c, pass]\n"
    "settings_env:\n"
    "  HB_MS: {setting: heartbeat_interval, unit: ms}\n"
    "  HB_SECS: heartbeat_interval\n"
    "  JITTER_PCT: {setting: reconnect_jitter, unit: percent}\n"
    "  JITTER: {setting: reconnect_jitter, unit: as_is}\n"
    "  COUNT: item_count\n"
    "  COUNT_MS: {setting: item_count, unit: ms}\n"
    "  WRITE_TIMEOUT: db_write_timeout\n"
    "timings:\n"
    "  fast:\n"
    "    settings: {heartbeat_interval: 0.25, reconnect_jitter: 0.1, item_count: 12,"
    " db_write_timeout: 1.5}\n"
    "    env: {LOG_LEVEL: debug, POLL_SECS: 0.25, WORKERS: 3}\n"
    "  seed:\n"
    "    settings: {heartbeat_interval: 10, reconnect_jitter: 0.35, item_count: 100,"
    " db_write_timeout: 5}\n"
    "    env: {LOG_LEVEL: info, POLL_SECS: 1, WORKERS: 3}\n"
)


def test_settings_reach_env_in_the_unit_each_var_asks_for(tmp_path):
    profile = load_profile(write(tmp_path / "p.yml", UNITS_PROFILE))
    fast = profile.env_for("fast")
    assert fast["HB_MS"] == "250"  # 0.25 s in ms
    assert fast["HB_SECS"] == "0.25"  # seconds, the default unit
    assert fast["JITTER_PCT"] == "10"  # 0.1 as a percentage
    assert fast["JITTER"] == "0.1"
    assert fast["COUNT"] == "12" and fast["COUNT_MS"] == "12"  # a count is never scaled
    assert fast["WRITE_TIMEOUT"] == "1.5"
    seed = profile.env_for("seed")
    assert (seed["HB_MS"], seed["HB_SECS"], seed["JITTER_PCT"]) == ("10000", "10", "35")
    assert (seed["COUNT"], seed["WRITE_TIMEOUT"]) == ("100", "5")
    assert profile.settings_env["COUNT_MS"] == ("item_count", "as_is")


def test_timing_env_literals_pass_through_beside_the_settings(tmp_path):
    profile = load_profile(write(tmp_path / "p.yml", UNITS_PROFILE))
    fast, seed = profile.env_for("fast"), profile.env_for("seed")
    assert (fast["LOG_LEVEL"], fast["POLL_SECS"], fast["WORKERS"]) == ("debug", "0.25", "3")
    assert (seed["LOG_LEVEL"], seed["POLL_SECS"]) == ("info", "1")
    assert set(fast) == set(seed) == {*profile.settings_env, "LOG_LEVEL", "POLL_SECS", "WORKERS"}


def test_the_reference_profile_gives_its_services_their_own_names_and_units():
    env = load_profile("local").env_for("fast")
    assert env["SHARD_TIMEOUT_SECS"] == "3"
    assert env["HEARTBEAT_INTERVAL_SECS"] == "0.25"
    assert env["REDIS_RECONNECT_BASE_DELAY_MS"] == "100"  # 0.1 s, read in ms
    assert env["REDIS_RECONNECT_MAX_DELAY_MS"] == "1000"
    assert env["GAME_COUNT"] == "12"
    assert env["HEALTH_CHECK_INTERVAL_SECS"] == "0.25"  # a literal of timings.fast.env


# -- alert sinks and commands -----------------------------------------------------------------


def test_a_text_alert_pattern_matches_its_own_line_only():
    sinks = AlertSinks(file_format="text", file_match=" | {name} | ")
    pattern = re.compile(sinks.file_pattern("redis_connectivity_issue"))
    assert pattern.search("2026-01-01T00:00:00 | redis_connectivity_issue | Redis down 3 times")
    assert not pattern.search("2026-01-01T00:00:00 | database_connectivity_issue | DB down")
    # The name is text, not a regex: a dot matches only a dot.
    dotted = re.compile(sinks.file_pattern("redis.down"))
    assert dotted.search("t | redis.down | x") and not dotted.search("t | redisXdown | x")


def test_a_jsonl_alert_pattern_matches_its_field_only():
    sinks = AlertSinks(file_format="jsonl", file_field="alert")
    pattern = re.compile(sinks.file_pattern("redis_connectivity"))
    assert pattern.search('{"t": 1.5, "alert": "redis_connectivity", "text": "Redis down"}')
    assert pattern.search('{"alert":"redis_connectivity"}')
    assert not pattern.search('{"t": 1.5, "alert": "database_connectivity"}')
    assert not pattern.search('{"alert": "redis_connectivity_v2"}')  # another alert's name
    assert not pattern.search('{"prev_alert": "x", "text": "redis_connectivity"}')


def test_a_command_fills_item_into_string_values_only():
    commands = CommandsDef(
        "shard:{worker}:command",
        add_item={"type": "add_game", "game_id": "{item}", "key": "g-{item}", "n": 3,
                  "tags": ["{item}"], "meta": {"id": "{item}"}, "on": True},
        remove_item={"type": "remove_game", "game_id": "{item}"},
    )  # fmt: skip
    message = commands.message("add", "nba-7")
    assert message == {"type": "add_game", "game_id": "nba-7", "key": "g-nba-7", "n": 3,
                       "tags": ["{item}"], "meta": {"id": "{item}"}, "on": True}  # fmt: skip
    assert commands.message("remove", "nba-7") == {"type": "remove_game", "game_id": "nba-7"}
    assert commands.message("add", "x")["game_id"] == "x"  # the template is left as it was
    assert commands.add_item["game_id"] == "{item}"


# -- backoff and jitter: "a jitter-free backoff fails the jitter check" ----------------------


@pytest.mark.parametrize("first", [100, 200, 400, 1600])
def test_exact_powers_of_two_have_no_spread_whichever_retry_starts_the_series(first):
    assert jitter_spread([first * 2**k for k in range(4)]) < 1e-9


def test_a_series_whose_first_failure_retried_at_once_has_no_spread_either():
    # The system retried the first failure immediately (0 ms): the delays it logs start one
    # doubling late, at 400 instead of 200. The fitted a·2^k absorbs the shift.
    assert jitter_spread([400, 800, 1600]) < 1e-9
    assert jitter_spread([400, 800, 1600, 3200, 6400]) < 1e-9


def test_a_jittered_series_spreads_past_the_logs_rounding():
    rng = random.Random(7)
    delays = [round(200 * 2**k * (1 + rng.uniform(-0.1, 0.1))) for k in range(5)]
    spread = jitter_spread(delays)
    floor = 1.5 / min(delays)  # what rounding to 1 ms can account for
    assert floor < spread <= 0.25, (delays, spread)


def _retries(delays: list[float], service: str = "orchestrator", decimals: int = 0) -> RunContext:
    """The reference system's retry lines, as its log observer records them, after a fault."""
    history = History()
    for n, ms in enumerate(delays, 1):
        line = (
            f"12:00:0{n} WARNING Failed to connect (attempt {n}). Retrying in {ms:.{decimals}f}ms"
        )
        history.add(Event(1.0 + n, f"log:{service}", "log", True, "redis_retry", line))
    fault = FaultEvent("redis", "apply", 1.0, 0.0, "redis down")
    return RunContext(history, faults=[fault], started=0.0)


@pytest.fixture
def seed_run(tmp_path) -> ScenarioRun:
    # seed: delays from 1000 ms, capped at 60 s, ±10% jitter declared.
    system = SystemBase(load_profile("local"), "seed", tmp_path)
    return ScenarioRun(system, History())


@pytest.mark.parametrize(
    "delays",
    [[1000, 2000, 4000, 8000], [0, 2000, 4000, 8000, 16000]],
    ids=["exact", "immediate_first_retry"],
)
def test_a_jitter_free_backoff_fails_the_backoff_check(seed_run, delays):
    verdict = backoff(seed_run, "redis", ["orchestrator"])(_retries(delays))
    assert verdict.status == "fail", verdict
    assert verdict.measured == 2.0  # the growth is right; the jitter is what is missing
    assert "no jitter seen" in verdict.evidence


def test_a_jittered_backoff_passes_the_backoff_check(seed_run):
    rng = random.Random(3)
    delays = [1000 * 2**k * (1 + rng.uniform(-0.1, 0.1)) for k in range(5)]
    verdict = backoff(seed_run, "redis", ["orchestrator"])(_retries(delays))
    assert verdict.status == "pass", verdict
    assert 1.5 <= verdict.measured <= 2.5
    assert verdict.details["spread"] > 1.5 / min(delays)


@pytest.mark.parametrize(("decimals", "status"), [(0, "fail"), (1, "pass")])
def test_a_small_spread_is_jitter_only_where_the_log_prints_finer_than_it(decimals, status):
    """100.6→199.3→401.1 ms sit within ±0.6% of the fitted curve. Printed to whole ms
    (101, 199, 401), every delay is within what the rounding and the fit it moves can
    make; printed to a tenth, the first is off by more than four times that."""
    system = SystemBase(load_profile("local"), "fast", Path("."))
    run = ScenarioRun(system, History())
    verdict = backoff(run, "redis", ["orchestrator"])(
        _retries([100.6, 199.3, 401.1, 1000], decimals=decimals)
    )
    assert verdict.status == status, verdict
    assert jitter_spread([100.6, 199.3, 401.1]) < 0.006


@pytest.mark.parametrize("base", [100, 107.3, 333.3, 1000 / 7])
def test_rounding_alone_is_never_taken_for_jitter(base):
    """An exact a·2^k printed to whole ms, for any a: the rounding moves each delay and
    the fit, and never by more than the bound allows."""
    delays = [Delay(round(base * 2**k), 0.5) for k in range(5)]
    assert not jitter_seen(delays), delays


def test_the_ci_runs_three_delays_are_jitter_even_at_whole_ms():
    """Stop 28's CI: 107→218→429 ms, read as no jitter by the first floor (1.4% of the
    smallest delay for all). 218 is 2.5 ms off the fit, where rounding explains 1.5."""
    assert jitter_seen([Delay(107, 0.5), Delay(218, 0.5), Delay(429, 0.5)])


def test_a_child_with_services_of_its_own_drops_roles_that_name_services_it_lacks(tmp_path):
    """A fault-only profile (two idle clients) extends local for its contract: local's roles
    name orchestrator and shards it does not have, so it inherits none, and loads."""
    path = tmp_path / "own.yml"
    path.write_text(
        "extends: local\nname: own\nservices:\n"
        "  alpha: {module: chaoslib.examples.arbees.shard}\nlinks: {}\n"
    )
    profile = load_profile(path)
    assert profile.contract.roles == Roles()
    assert profile.contract.heartbeat.channel  # the rest of the contract is inherited
    # Services with the same names keep the roles (compose.yml restates local's services).
    assert load_profile("compose").contract.roles == load_profile("local").contract.roles


def test_a_service_reads_settings_under_its_own_names_too(tmp_path):
    """One worker written in another language reads the heartbeat in ms under its own name;
    the profile's names still reach every service."""
    path = tmp_path / "own_names.yml"
    text = (
        (Path(load_profile("local").path))
        .read_text()
        .replace(
            "    module: chaoslib.examples.arbees.signals\n",
            "    module: chaoslib.examples.arbees.signals\n"
            "    settings_env: {BEAT_MS: {setting: heartbeat_interval, unit: ms}}\n",
        )
    )
    path.write_text(text)
    profile = load_profile(path)
    own = profile.env_for("fast", "signals")
    assert own["BEAT_MS"] == "250" and own["HEARTBEAT_INTERVAL_SECS"] == "0.25"
    assert "BEAT_MS" not in profile.env_for("fast", "shard_01")
    bad = tmp_path / "bad_names.yml"
    bad.write_text(text.replace("setting: heartbeat_interval, unit: ms", "setting: beat"))
    with pytest.raises(FileError, match=r"services\.signals\.settings_env\.BEAT_MS"):
        load_profile(bad)
