"""Profiles are validated on load: every kind of bad file names its line, key and what is accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaoslib.errors import ConfigError
from chaoslib.profiles import builtin_profiles, load_profile
from chaoslib.yaml_lines import FileError
from tests.helpers import REPO

LOCAL = load_profile("local").path


def test_the_local_profile_gives_every_service_its_own_links():
    profile = load_profile("local")
    assert "local" in builtin_profiles()
    assert profile.workers() == ["shard_01", "shard_02"]
    for name, service in profile.services.items():
        assert service.redis == f"redis-{name}"  # a per-client proxy for each service
    assert profile.links["db-shard_01"].service == "postgres"
    assert set(profile.timings) == {"fast", "seed"}
    assert profile.timing("seed").settings["worker_timeout"] == 60  # the guide's real value
    # ... and the system reads it under its own name.
    assert profile.env_for("seed")["SHARD_TIMEOUT_SECS"] == "60"
    assert (
        profile.timing("fast").waits["shard_timeout"]
        < profile.timing("seed").waits["shard_timeout"]
    )


def test_the_local_services_share_one_env_through_a_yaml_merge_key():
    services = load_profile("local").services
    shared = services["orchestrator"].env
    assert shared["REDIS_URL"] == "${CHAOS_REDIS_URL}"  # expanded at launch, per service
    assert services["signals"].env == shared  # the anchor itself
    for shard in ("shard_01", "shard_02"):  # the anchor merged in, plus the shard's own id
        assert services[shard].env == {**shared, "SHARD_ID": shard}
    assert "SHARD_ID" not in shared


def test_unknown_profile_names_list_the_built_in_ones():
    with pytest.raises(
        ConfigError, match="no profile named 'prod'; built in: arbees, compose, local"
    ):
        load_profile("prod")
    with pytest.raises(ConfigError, match="timing 'slow' is not in profile local"):
        load_profile("local").timing("slow")


def mutate(tmp_path, old: str, new: str):
    text = Path(LOCAL).read_text()
    assert old in text, old
    path = tmp_path / "profile.yml"
    path.write_text(text.replace(old, new, 1))
    return path


BAD = {
    "unknown_top_key": (
        "protected: false\n",
        "protected: false\ncolour: blue\n",
        "colour",
        "unknown key",
    ),
    "protected_not_bool": ("protected: false", "protected: maybe", "protected", "must be bool"),
    "unknown_service_key": (
        "    module: chaoslib.examples.arbees.orchestrator\n",
        "    module: chaoslib.examples.arbees.orchestrator\n    image: x\n",
        "image",
        "unknown key",
    ),
    "missing_module": (
        "    module: chaoslib.examples.arbees.signals\n",
        "",
        "services.signals.module",
        "is required",
    ),
    # Roles live in contract.roles now: a victim that is no worker replaces a bad role:.
    "victim_not_a_worker": (
        "    victim: shard_01\n",
        "    victim: orchestrator\n",
        "contract.roles.victim",
        "orchestrator is not one of the workers",
    ),
    "link_to_unknown_stack_service": (
        "redis-signals: {service: redis,",
        "redis-signals: {service: mongo,",
        "links.redis-signals.service",
        "'mongo' is not valid",
    ),
    "link_from_unknown_client": (
        "client: signals}",
        "client: nobody}",
        "links.redis-signals.client",
        "no service is named 'nobody'",
    ),
    "service_uses_missing_link": (
        "    redis: redis-signals\n",
        "    redis: redis-nowhere\n",
        "services.signals.redis",
        "no link is named 'redis-nowhere'",
    ),
    "service_uses_someone_elses_link": (
        "    redis: redis-orchestrator\n",
        "    redis: redis-signals\n",
        "services.orchestrator.redis",
        "must go from orchestrator to redis",
    ),
    "bad_regex": (
        '    circuit_open: "Circuit breaker OPENED',
        '    circuit_open: "Circuit (breaker',
        "contract.log_patterns.circuit_open",
        "not a valid regex",
    ),
    "negative_wait": (
        "      stabilize: 2\n",
        "      stabilize: -2\n",
        "timings.fast.waits.stabilize",
        "must be >= 0",
    ),
    "timings_disagree": (
        "      partition: 1.5\n",
        "",
        "timings.*.waits",
        "only one sets partition",
    ),
    "limits_disagree": (
        "      zombie: 3\n      retry_success_pct: 95\n",
        "      retry_success_pct: 95\n",
        "timings.*.limits",
        "only one sets zombie",
    ),
    "limit_not_a_number": (
        "      reassign: 2\n",
        "      reassign: soon\n",
        "timings.fast.limits.reassign",
        "must be int or float",
    ),
    "unknown_timing_section": (
        "    limits:\n      reconnect: 3\n",
        "    limitz:\n      reconnect: 3\n",
        "limitz",
        "unknown key in timings.fast",
    ),
    "bad_fragile_flag": (
        "fragile: [no-reconnect,",
        "fragile: [No Reconnect,",
        "fragile",
        "is not a flag name",
    ),
    "unknown_backend": (
        "    backend: process\n",
        "    backend: kubernetes\n",
        "services.orchestrator.backend",
        "'kubernetes' is not valid",
    ),
    "env_not_scalar": (
        "SHARD_ID: shard_01}",
        "SHARD_ID: [a, b]}",
        "services.shard_01.env.SHARD_ID",
        "must be a single value",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_kind_of_bad_profile_is_rejected(tmp_path, case):
    old, new, key, problem = BAD[case]
    path = mutate(tmp_path, old, new)
    info = rejected(path)
    message = str(info)
    assert message.startswith(f"{path}:"), message
    assert key in message and problem in message, message
    assert info.line and info.line > 0


def test_a_services_role_is_refused_now_that_roles_live_in_the_contract(tmp_path):
    path = mutate(
        tmp_path,
        "    module: chaoslib.examples.arbees.orchestrator\n",
        "    module: chaoslib.examples.arbees.orchestrator\n    role: shard\n",
    )
    info = rejected(path)
    assert info.line == line_of(path, "role: shard"), str(info)
    assert "role" in str(info)


def test_a_profile_without_timings_is_rejected(tmp_path):
    text = Path(LOCAL).read_text().split("\ntimings:\n")[0]
    path = tmp_path / "p.yml"
    path.write_text(text)
    with pytest.raises(FileError, match="timings: is required"):
        load_profile(path)


def test_the_arbees_profile_names_the_real_stack():
    profile = load_profile("arbees")
    assert profile.protected
    assert profile.workers() == ["shard-1"]
    assert (profile.contract.roles.victim, profile.contract.roles.survivor) == ("shard-1", "")
    assert profile.services["orchestrator"].container == "arbees-orchestrator"
    assert profile.compose is not None and profile.compose.postgres == "arbees-timescaledb"
    assert "PubSub stream ended" in profile.contract.log_patterns["redis_disconnected"]
    assert profile.contract.alerts["redis_connectivity"].file == "redis_connectivity"
    # A key it does not restate comes from local.yml, merged key by key.
    assert profile.contract.heartbeat == load_profile("local").contract.heartbeat
    # Everything it does not restate comes from local.yml.
    assert profile.timing("seed").limits == load_profile("local").timing("seed").limits
    proxies = json.loads((REPO / profile.compose.proxy_config).read_text())
    assert set(profile.links) <= {p["name"] for p in proxies}


def test_compose_overrides_one_wait_and_keeps_the_rest():
    compose, local = load_profile("compose"), load_profile("local")
    fast = compose.timing("fast")
    assert fast.waits["redis_down"] != local.timing("fast").waits["redis_down"]
    assert fast.waits["redis_down"] < fast.settings["worker_timeout"]
    # A container's restart adds to the outage: compose leaves room with a longer timeout.
    assert fast.settings["worker_timeout"] > local.timing("fast").settings["worker_timeout"]
    assert compose.env_for("fast")["SHARD_TIMEOUT_SECS"] == "5"  # what its services read
    changed = ("redis_down", "shard_timeout")
    others = {k: v for k, v in fast.waits.items() if k not in changed}
    assert others == {k: v for k, v in local.timing("fast").waits.items() if k not in changed}
    assert all(s.backend == "docker" for s in compose.services.values())


# -- extends chains ------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rejected(path: Path) -> FileError:
    """The error loading ``path`` raises (the test fails if it loads)."""
    with pytest.raises(FileError) as info:
        load_profile(path)
    return info.value


def line_of(path: Path, text: str) -> int:
    """The 1-based line of ``path`` that contains ``text`` (the test's own files)."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_extends_compose_brings_in_what_compose_inherits_from_local(tmp_path):
    child = write(
        tmp_path / "my.yml",
        "extends: compose\nname: mine\ntimings:\n  fast:\n    waits: {redis_down: 2}\n",
    )
    profile, local = load_profile(child), load_profile("local")
    assert profile.name == "mine"
    assert profile.contract == local.contract  # from local, two levels up
    assert profile.timing("fast").settings == {
        **local.timing("fast").settings,
        "worker_timeout": 5,
    }  # compose's one change
    assert profile.timing("fast").env == local.timing("fast").env
    assert profile.settings_env == local.settings_env
    assert profile.timing("seed").limits == local.timing("seed").limits
    assert profile.compose is not None and profile.compose.project == "chaos-arbees"  # compose's
    assert all(s.backend == "docker" for s in profile.services.values())
    assert profile.timing("fast").waits["redis_down"] == 2  # the child's
    assert profile.timing("fast").waits["stabilize"] == local.timing("fast").waits["stabilize"]


def test_extends_paths_resolve_from_each_extending_files_directory(tmp_path):
    write(
        tmp_path / "base" / "c.yml", "extends: local\ntimings:\n  seed:\n    waits: {steady: 11}\n"
    )
    write(
        tmp_path / "base" / "b.yml",
        "extends: c.yml\ndescription: from b\ntimings:\n  seed:\n    waits: {resync: 12}\n",
    )
    child = write(tmp_path / "team" / "a.yml", "extends: ../base/b.yml\nname: a\n")
    profile = load_profile(child)
    seed = profile.timing("seed").waits
    assert (profile.name, profile.description) == ("a", "from b")
    assert (seed["steady"], seed["resync"]) == (11, 12)  # c's and b's, merged level by level
    assert seed["stabilize"] == load_profile("local").timing("seed").waits["stabilize"]
    assert profile.workers() == ["shard_01", "shard_02"]


def test_a_cycle_of_extends_is_rejected_naming_the_chain(tmp_path):
    a = write(tmp_path / "a.yml", "extends: b.yml\nname: a\n")
    b = write(tmp_path / "b.yml", "name: b\nextends: a.yml\n")
    info = rejected(a)
    message = str(info)
    assert message.startswith(f"{b}:2: extends: profiles extend each other in a cycle"), message
    assert f"{a.resolve()} extends {b.resolve()} extends {a.resolve()}" in message
    itself = write(tmp_path / "self.yml", "extends: ./self.yml\n")
    with pytest.raises(FileError, match="in a cycle"):
        load_profile(itself)


@pytest.mark.parametrize(
    ("extends", "problem"),
    [
        ("prod", "no built-in profile 'prod'"),
        ("missing.yml", "no profile file"),
        ("[local]", "must be str"),
    ],
)
def test_a_bad_extends_is_reported_at_its_line(tmp_path, extends, problem):
    child = write(tmp_path / "my.yml", f"name: mine\nextends: {extends}\n")
    info = rejected(child)
    assert (info.path, info.line) == (str(child), 2)
    assert problem in str(info)


def test_a_bad_value_written_in_the_child_is_reported_at_the_childs_line(tmp_path):
    child = write(
        tmp_path / "my.yml",
        "extends: compose\nname: mine\ntimings:\n  fast:\n    waits:\n      stabilize: -1\n",
    )
    info = rejected(child)
    assert (info.path, info.line) == (str(child), 6)
    assert "timings.fast.waits.stabilize: must be >= 0" in str(info)


def test_a_bad_value_inherited_from_a_base_is_reported_at_the_bases_line(tmp_path):
    base = write(
        tmp_path / "base.yml",
        "extends: local\ncontract:\n  log_patterns:\n    crash: '(unclosed'\n",
    )
    child = write(tmp_path / "my.yml", "extends: base.yml\nname: mine\ndescription: mine\n")
    info = rejected(child)
    assert (info.path, info.line) == (str(base), 4)
    assert "contract.log_patterns.crash: is not a valid regex" in str(info)


def test_a_wait_only_one_timing_set_adds_is_reported_where_it_was_written(tmp_path):
    child = write(
        tmp_path / "my.yml", "extends: local\ntimings:\n  seed:\n    waits:\n      extra: 1\n"
    )
    info = rejected(child)
    assert (info.path, info.line) == (str(child), 5)
    assert "only one sets extra" in str(info)


# -- timing rules --------------------------------------------------------------------------

OUTAGE = "extends: local\nname: mine\ntimings:\n  fast:\n    waits:\n      redis_down: {}\n"


def test_an_outage_as_long_as_the_shard_timeout_is_rejected_at_the_childs_wait(tmp_path):
    child = write(tmp_path / "my.yml", OUTAGE.format(3))
    info = rejected(child)
    message = str(info)
    assert (info.path, info.line) == (str(child), 6)
    assert "timings.fast.waits.redis_down: 3 s is not shorter than" in message
    assert "timings.fast.settings.worker_timeout = 3 s" in message
    setting_line = line_of(Path(LOCAL), "worker_timeout: 3")
    assert f"(written at {LOCAL}:{setting_line})" in message
    assert "rule redis_outage_ends_before_shard_timeout" in message
    assert "the guide's Redis outage must end before a shard is declared dead" in message


def test_the_same_file_with_a_shorter_outage_loads(tmp_path):
    child = write(tmp_path / "my.yml", OUTAGE.format(2))
    assert load_profile(child).timing("fast").waits["redis_down"] == 2


def test_a_timeout_lowered_in_the_child_is_judged_against_the_bases_waits(tmp_path):
    child = write(
        tmp_path / "my.yml",
        "extends: local\ntimings:\n  seed:\n    settings:\n      worker_timeout: 20\n",
    )
    info = rejected(child)
    # The wait that no longer fits was written in local.yml: the error says so, and
    # names the child's line where the timeout changed.
    assert (info.path, info.line) == (LOCAL, line_of(Path(LOCAL), "redis_down: 30"))
    assert "timings.seed.waits.redis_down: 30 s is not shorter than" in str(info)
    assert f"(written at {child}:5)" in str(info)


def test_a_wait_that_must_outlast_the_timeout_is_checked_too(tmp_path):
    child = write(
        tmp_path / "my.yml", "extends: local\ntimings:\n  fast:\n    waits: {shard_timeout: 2}\n"
    )
    with pytest.raises(FileError, match="shard_timeout: 2 s is not longer than") as info:
        load_profile(child)
    assert (info.value.path, info.value.line) == (str(child), 4)


def test_a_services_own_env_cannot_override_a_mapped_setting(tmp_path):
    old = "SHARD_ID: shard_01}"
    path = mutate(tmp_path, old, "SHARD_ID: shard_01, SHARD_TIMEOUT_SECS: 1}")
    info = rejected(path)
    assert info.line == line_of(path, "SHARD_TIMEOUT_SECS: 1"), str(info)
    assert "services.shard_01.env.SHARD_TIMEOUT_SECS" in str(info)
    assert "worker_timeout" in str(info)  # where to change it instead


RULE = "extends: local\ntiming_rules:\n  mine:\n"


@pytest.mark.parametrize(
    ("rule", "line", "problem"),
    [
        ("    wait: redis_dwn\n    shorter_than: worker_timeout\n    why: x\n", 4,
         "timing_rules.mine.wait: no wait 'redis_dwn' in timings.*.waits"),
        ("    wait: redis_down\n    shorter_than: SHARD_TIMEOUT_SECS\n    why: x\n", 5,
         "timing_rules.mine.shorter_than: no setting 'SHARD_TIMEOUT_SECS' in timings.*.settings"),
        ("    wait: redis_down\n    why: x\n", 3, "sets 0 relations"),
        ("    wait: redis_down\n    shorter_than: worker_timeout\n    longer_than: zombie_grace\n"
         "    why: x\n", 3, "sets 2 relations"),
        # Settings are in the guide's units: a rule has no unit of its own any more.
        ("    wait: redis_down\n    shorter_than: worker_timeout\n    unit: ms\n    why: x\n",
         6, "unit: unknown key in timing_rules.mine"),
        ("    wait: redis_down\n    shorter_than: worker_timeout\n", 4,
         "timing_rules.mine.why: is required"),
        ("    wait: redis_down\n    shorter_than: worker_timeout\n    why: x\n    when: y\n",
         7, "when: unknown key in timing_rules.mine"),
    ],
)  # fmt: skip
def test_a_bad_timing_rule_is_rejected_at_its_line(tmp_path, rule, line, problem):
    child = write(tmp_path / "my.yml", RULE + rule)
    info = rejected(child)
    assert (info.path, info.line) == (str(child), line), str(info)
    assert problem in str(info)


def test_a_setting_reaches_an_env_var_in_the_unit_it_names(tmp_path):
    # The rule judges the setting in seconds; the system reads it in ms under its own name.
    # steady (fast 1 s, seed 10 s) outlasts the first reconnect delay (0.1 s, 1 s).
    rule = "    wait: steady\n    longer_than: reconnect_base_delay\n    why: x\n"
    profile = load_profile(write(tmp_path / "ms.yml", RULE + rule))
    assert profile.settings_env["REDIS_RECONNECT_BASE_DELAY_MS"] == ("reconnect_base_delay", "ms")
    assert profile.env_for("fast")["REDIS_RECONNECT_BASE_DELAY_MS"] == "100"
    assert profile.env_for("seed")["REDIS_RECONNECT_BASE_DELAY_MS"] == "1000"
    # The same setting mapped without a unit is read in seconds: the unit counts.
    in_s = write(
        tmp_path / "s.yml",
        "extends: local\nsettings_env:\n  REDIS_RECONNECT_BASE_DELAY_MS: reconnect_base_delay\n",
    )
    assert load_profile(in_s).env_for("fast")["REDIS_RECONNECT_BASE_DELAY_MS"] == "0.1"
    # A rule judges settings in seconds, whatever unit the env var is written in:
    # the fast db_latency (1 s) is not longer than reconnect_max_delay (1 s, "1000" in ms).
    short = RULE + "    wait: db_latency\n    longer_than: reconnect_max_delay\n    why: x\n"
    with pytest.raises(FileError, match="db_latency: 1 s is not longer than .*max_delay = 1 s"):
        load_profile(write(tmp_path / "short.yml", short))


@pytest.mark.parametrize("name", builtin_profiles())
def test_each_built_in_profile_loads_with_the_guides_timing_rules(name):
    profile = load_profile(name)
    for timing in profile.timings.values():
        timeout = timing.settings["worker_timeout"]
        assert timing.waits["redis_down"] < timeout
        assert timing.waits["partition"] < timeout
        assert timing.waits["shard_timeout"] > timeout


COMPOSE_KEY = (
    "extends: compose\nname: mine\ncompose:\n  files: [a.yml]\n  project: p\n"
    "  proxy_config: p.json\n  {}\n"
)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('reset_keys: ["**"]', "literal prefix"),
        ('reset_keys: ["?*"]', "literal prefix"),
        ('reset_keys: ["[a-z]*"]', "literal prefix"),
        ('reset_keys: ["*"]', "literal prefix"),
        ("webhook_port: 80", "1024 to 65535"),
        ("webhook_port: 70000", "1024 to 65535"),
        ('database_url: "postgresql://u:{password}@{host}:{port}/db"', "no other {field}"),
        ('database_url: "postgresql://u@localhost:5432/db"', "must contain {host}"),
        ("disposable: maybe", "disposable"),
    ],
)
def test_compose_keys_that_could_wipe_or_mislead_are_rejected_at_their_line(tmp_path, line, says):
    child = write(tmp_path / "my.yml", COMPOSE_KEY.format(line))
    info = rejected(child)
    assert (info.path, info.line) == (str(child), 7)
    assert says in str(info)


def test_compose_keys_a_user_writes_load(tmp_path):
    child = write(
        tmp_path / "my.yml",
        COMPOSE_KEY.format(
            'reset_keys: ["signals:*", "cache:?"]\n  webhook_port: 18080\n'
            "  alert_file: alerts/a.log\n  disposable: true\n"
            '  database_url: "postgresql://shop:pw@{host}:{port}/shop"'
        ),
    )
    compose = load_profile(child).compose
    assert compose is not None and compose.reset_keys == ("signals:*", "cache:?")
    assert (compose.webhook_port, compose.disposable) == (18080, True)
    assert compose.path(compose.alert_file) == tmp_path / "alerts/a.log"  # the profile's dir
    assert compose.path(compose.files[0]) == tmp_path / "a.yml"
