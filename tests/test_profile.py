"""Profiles are validated on load: every kind of bad file names its line, key and what is accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaoslib.errors import ConfigError
from chaoslib.profile import builtin_profiles, load_profile
from chaoslib.yaml_lines import FileError
from tests.helpers import REPO

LOCAL = load_profile("local").path


def test_the_local_profile_gives_every_service_its_own_links():
    profile = load_profile("local")
    assert "local" in builtin_profiles()
    assert profile.shards() == ["shard_01", "shard_02"]
    for name, service in profile.services.items():
        assert service.redis == f"redis-{name}"  # a per-client proxy for each service
    assert profile.links["db-shard_01"].service == "postgres"
    assert set(profile.timings) == {"fast", "seed"}
    assert float(profile.timing("seed").env["SHARD_TIMEOUT_SECS"]) == 60  # the guide's real value
    assert (
        profile.timing("fast").waits["shard_timeout"]
        < profile.timing("seed").waits["shard_timeout"]
    )


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
        "    module: examples.arbees.orchestrator\n",
        "    module: examples.arbees.orchestrator\n    image: x\n",
        "image",
        "unknown key",
    ),
    "missing_module": (
        "    module: examples.arbees.signals\n",
        "",
        "services.signals.module",
        "is required",
    ),
    "bad_role": (
        "    role: shard\n",
        "    role: worker\n",
        "services.shard_01.role",
        "'worker' is not valid",
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
        "    env: {SHARD_ID: shard_01}",
        "    env: {SHARD_ID: [a, b]}",
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


def test_a_profile_without_timings_is_rejected(tmp_path):
    text = Path(LOCAL).read_text().split("# `env` goes to every service")[0]
    path = tmp_path / "p.yml"
    path.write_text(text)
    with pytest.raises(FileError, match="timings: is required"):
        load_profile(path)


def test_the_arbees_profile_names_the_real_stack():
    profile = load_profile("arbees")
    assert profile.protected
    assert profile.shards() == ["shard-1"]
    assert profile.services["orchestrator"].container == "arbees-orchestrator"
    assert profile.compose is not None and profile.compose.postgres == "arbees-timescaledb"
    assert "PubSub stream ended" in profile.contract.log_patterns["redis_disconnected"]
    assert profile.contract.alert_file_keys["redis_connectivity_issue"] == "redis_connectivity"
    # Everything it does not restate comes from local.yml.
    assert profile.timing("seed").limits == load_profile("local").timing("seed").limits
    proxies = json.loads((REPO / profile.compose.proxy_config).read_text())
    assert set(profile.links) <= {p["name"] for p in proxies}


def test_compose_overrides_one_wait_and_keeps_the_rest():
    compose, local = load_profile("compose"), load_profile("local")
    fast = compose.timing("fast")
    assert fast.waits["redis_down"] != local.timing("fast").waits["redis_down"]
    assert fast.waits["redis_down"] < float(fast.env["SHARD_TIMEOUT_SECS"])
    # A container's restart adds to the outage: compose leaves room with a longer timeout.
    assert float(fast.env["SHARD_TIMEOUT_SECS"]) > float(
        local.timing("fast").env["SHARD_TIMEOUT_SECS"]
    )
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
    assert profile.timing("fast").env == {
        **local.timing("fast").env,
        "SHARD_TIMEOUT_SECS": "5",
    }  # compose's one change
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
    assert profile.shards() == ["shard_01", "shard_02"]


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
    assert "timings.fast.env.SHARD_TIMEOUT_SECS = 3 s" in message
    env_line = line_of(Path(LOCAL), "SHARD_TIMEOUT_SECS: 3")
    assert f"(written at {LOCAL}:{env_line})" in message
    assert "rule redis_outage_ends_before_shard_timeout" in message
    assert "the guide's Redis outage must end before a shard is declared dead" in message


def test_the_same_file_with_a_shorter_outage_loads(tmp_path):
    child = write(tmp_path / "my.yml", OUTAGE.format(2))
    assert load_profile(child).timing("fast").waits["redis_down"] == 2


def test_a_timeout_lowered_in_the_child_is_judged_against_the_bases_waits(tmp_path):
    child = write(
        tmp_path / "my.yml",
        "extends: local\ntimings:\n  seed:\n    env:\n      SHARD_TIMEOUT_SECS: 20\n",
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


def test_a_services_own_env_is_judged_by_the_rules(tmp_path):
    text = Path(LOCAL).read_text()
    old = "    env: {SHARD_ID: shard_01}\n"
    assert old in text
    path = write(
        tmp_path / "p.yml",
        text.replace(old, "    env: {SHARD_ID: shard_01, SHARD_TIMEOUT_SECS: 1}\n"),
    )
    info = rejected(path)
    assert "services.shard_01.env.SHARD_TIMEOUT_SECS = 1 s" in str(info)


RULE = "extends: local\ntiming_rules:\n  mine:\n"


@pytest.mark.parametrize(
    ("rule", "line", "problem"),
    [
        ("    wait: redis_dwn\n    shorter_than_env: SHARD_TIMEOUT_SECS\n    why: x\n", 4,
         "timing_rules.mine.wait: no wait 'redis_dwn' in timings.*.waits"),
        ("    wait: redis_down\n    shorter_than_env: SHARD_TIMEOUT\n    why: x\n", 5,
         "timing_rules.mine.shorter_than_env: no env 'SHARD_TIMEOUT' in timings.*.env"),
        ("    wait: redis_down\n    why: x\n", 3, "sets 0 relations"),
        ("    wait: redis_down\n    shorter_than_env: GAME_COUNT\n    unit: min\n    why: x\n",
         6, "timing_rules.mine.unit: 'min' is not valid"),
        ("    wait: redis_down\n    shorter_than_env: SHARD_TIMEOUT_SECS\n", 4,
         "timing_rules.mine.why: is required"),
        ("    wait: redis_down\n    shorter_than_env: SHARD_TIMEOUT_SECS\n    why: x\n    when: y\n",
         7, "when: unknown key in timing_rules.mine"),
    ],
)  # fmt: skip
def test_a_bad_timing_rule_is_rejected_at_its_line(tmp_path, rule, line, problem):
    child = write(tmp_path / "my.yml", RULE + rule)
    info = rejected(child)
    assert (info.path, info.line) == (str(child), line), str(info)
    assert problem in str(info)


def test_a_rule_in_milliseconds_scales_the_env_var(tmp_path):
    # steady (fast 1 s, seed 10 s) outlasts the first reconnect delay (100 ms, 1000 ms).
    rule = "    wait: steady\n    longer_than_env: REDIS_RECONNECT_BASE_DELAY_MS\n    why: x\n"
    in_ms = write(tmp_path / "ms.yml", RULE + rule + "    unit: ms\n")
    assert load_profile(in_ms).timing("fast").waits["steady"] == 1
    # Read as seconds, the same setting is 100 s: the rule now fails, so the unit counts.
    with pytest.raises(FileError, match="steady: 1 s is not longer than .*_DELAY_MS = 100 s"):
        load_profile(write(tmp_path / "s.yml", RULE + rule))


@pytest.mark.parametrize("name", builtin_profiles())
def test_each_built_in_profile_loads_with_the_guides_timing_rules(name):
    profile = load_profile(name)
    for timing in profile.timings.values():
        timeout = float(timing.env["SHARD_TIMEOUT_SECS"])
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
