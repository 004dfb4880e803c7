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
    with pytest.raises(FileError) as info:
        load_profile(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert key in message and problem in message, message
    assert info.value.line and info.value.line > 0


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
    assert compose.timing("fast").waits["redis_down"] == 3
    others = {k: v for k, v in compose.timing("fast").waits.items() if k != "redis_down"}
    assert others == {k: v for k, v in local.timing("fast").waits.items() if k != "redis_down"}
    assert all(s.backend == "docker" for s in compose.services.values())
