"""Any program as a process service: ``command``, ``cwd``, ``${VAR}`` expansion and every
kind of ``ready``, each run as a real child process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaoslib.errors import ConfigError, ServiceError
from chaoslib.profiles import load_profile
from chaoslib.profiles.services import ServiceDef, launch, parse_services
from chaoslib.services.managed import pick_free_port
from chaoslib.services.process_service import ProcessService
from chaoslib.services.readiness import ReadyDef
from chaoslib.yaml_lines import FileError, Reader, load
from tests.helpers import REPO

PY = json.dumps(sys.executable)  # a JSON string is a YAML string, whatever the path holds

# The children below pace themselves (a start-up delay, an idle loop): that is the program
# under test behaving like a slow server, not a wait in the test.
SHOW = """\
import json, os, sys, time
env = {k: os.environ.get(k) for k in ("A", "B", "C")}
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": env}), flush=True)
print("ready", flush=True)
while True:
    time.sleep(1)  # ok: the child under test idles; not a wait in the test
"""
LISTEN = """\
import socket, sys, time
print("starting", flush=True)
time.sleep(float(sys.argv[2]))  # ok: the child under test idles; not a wait in the test
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
print("listening", flush=True)
while True:
    server.accept()[0].close()
"""
HEART = """\
import pathlib, time
time.sleep(0.3)  # ok: the child under test idles; not a wait in the test
pathlib.Path("heartbeat").write_text("beat")
while True:
    time.sleep(1)  # ok: the child under test idles; not a wait in the test
"""
DIES = """\
import sys
print("loading /etc/courier.json", flush=True)
print("fatal: no config at /etc/courier.json", flush=True)
sys.exit(4)
"""


def write(path: Path, text: str, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def profile(path: Path, services: str) -> Path:
    """A file with a ``services:`` section (the part of a profile this module reads)."""
    return write(path, "services:\n" + textwrap.indent(textwrap.dedent(services), "  "))


def parse(path: Path) -> dict[str, ServiceDef]:
    return parse_services(Reader(path), load(path))


def refused(path: Path) -> FileError:
    with pytest.raises(FileError) as info:
        parse(path)
    return info.value


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture
def run(tmp_path) -> Iterator[Callable[..., ProcessService]]:
    """Start a service the way LocalSystem will: launch() it, then a ProcessService."""
    started: list[ProcessService] = []

    def start(svc: ServiceDef, variables: dict[str, str] | None = None, **kwargs):
        plan = launch(svc, {**os.environ, **(variables or {})})
        proc = ProcessService(
            svc.name, plan.argv, tmp_path / "logs" / f"{svc.name}.log",
            env=plan.env, cwd=plan.cwd, ready=svc.ready, **kwargs,
        )  # fmt: skip
        started.append(proc)
        proc.start()
        return proc

    yield start
    for proc in started:
        proc.stop(timeout=5)


def shown(proc: ProcessService) -> dict:
    return json.loads(Path(proc.log_path).read_text().splitlines()[0])


# -- command, cwd, env -----------------------------------------------------------------------


def test_a_command_list_runs_with_its_arguments_as_given(tmp_path, run):
    script = write(tmp_path / "show.py", SHOW)
    path = profile(tmp_path / "p.yml", f"""
        show:
          command: [{PY}, {json.dumps(str(script))}, "two words", 8080, "it's"]
          ready: "^ready$"
        """)  # fmt: skip
    svc = parse(path)["show"]
    assert svc.command[2:] == ("two words", "8080", "it's")
    assert shown(run(svc))["argv"] == ["two words", "8080", "it's"]


def test_a_command_string_is_split_as_a_shell_would_but_never_run_by_one(tmp_path, run):
    script = write(tmp_path / "show.py", SHOW)
    text = f"{sys.executable} {script} 'two words' \"say \\\"hi\\\"\" $$HOME ';' `id`"
    path = profile(tmp_path / "p.yml", f"show:\n  command: {json.dumps(text)}\n  ready: ^ready$\n")
    argv = shown(run(parse(path)["show"]))["argv"]
    # No shell: the quotes group words, and nothing is substituted or run (; and `id`).
    assert argv == ["two words", 'say "hi"', "$HOME", ";", "`id`"]


def test_cwd_and_a_relative_program_resolve_against_the_profile_files_directory(tmp_path, run):
    here = tmp_path / "courier"
    write(here / "bin" / "show", f"#!{sys.executable}\n{SHOW}", executable=True)
    (here / "data").mkdir()
    path = profile(here / "profile.yml", """
        show: {command: ./bin/show first, cwd: data, ready: ^ready$}
        home: {command: ./bin/show, ready: ^ready$}
        """)  # fmt: skip
    services = parse(path)
    proc = run(services["show"])
    assert proc.spec.argv == (str(here / "bin" / "show"), "first")
    assert shown(proc)["cwd"] == str(here / "data")
    # Without cwd, a command runs in the profile file's directory (beside its code).
    assert shown(run(services["home"]))["cwd"] == str(here)


def test_env_command_and_cwd_expand_variables_with_defaults_and_literal_dollars(tmp_path, run):
    script = write(tmp_path / "show.py", SHOW)
    (tmp_path / "work-7").mkdir()
    path = profile(tmp_path / "p.yml", f"""
        show:
          command: [{PY}, {json.dumps(str(script))}, "--redis=${{CHAOS_REDIS_URL}}", "${{NOPE:-x y}}"]
          cwd: "work-${{RUN}}"
          env: {{A: "${{CHAOS_REDIS_URL}}/0", B: "${{UNSET_B:-fallback}}", C: "cost: $$5"}}
          ready: ^ready$
        """)  # fmt: skip
    svc = parse(path)["show"]
    assert svc.env["A"] == "${CHAOS_REDIS_URL}/0"  # kept as written until launch
    url = "redis://127.0.0.1:6390"
    out = shown(run(svc, {"CHAOS_REDIS_URL": url, "RUN": "7"}))
    assert out["argv"] == [f"--redis={url}", "x y"]
    assert out["cwd"] == str(tmp_path / "work-7")
    assert out["env"] == {"A": f"{url}/0", "B": "fallback", "C": "cost: $5"}


def test_an_undefined_variable_names_the_service_the_key_and_the_variable(tmp_path):
    path = profile(tmp_path / "p.yml", f"""
        courier:
          command: [{PY}, -c, "print(1)"]
          env: {{REDIS_URL: "${{CHAOS_REDIS_URL}}"}}
        """)  # fmt: skip
    svc = parse(path)["courier"]
    with pytest.raises(ConfigError) as info:
        launch(svc, {"PATH": os.environ["PATH"]})
    message = str(info.value)
    where = f"{path}:{line_of(path, 'courier:')}"
    assert message.startswith(f"{where}: services.courier.env.REDIS_URL: "), message
    assert "variable CHAOS_REDIS_URL is not defined" in message
    assert "${CHAOS_REDIS_URL:-default}" in message
    assert launch(svc, {"CHAOS_REDIS_URL": "redis://h:1"}).env == {"REDIS_URL": "redis://h:1"}


@pytest.mark.parametrize(
    "value", ["$HOME/x", "${HOME-x}", "${HOME:?x}", "${1X}", "${HOME"], ids=str
)
def test_a_dollar_form_chaoslib_does_not_expand_is_refused_at_its_line(tmp_path, value):
    path = profile(tmp_path / "p.yml", f"""
        courier:
          command: [{PY}, -c, "print(1)"]
          env:
            DIR: {json.dumps(value)}
        """)  # fmt: skip
    error = refused(path)
    assert (error.line, error.key) == (line_of(path, "DIR:"), "services.courier.env.DIR")
    assert "is not a variable form" in error.problem
    assert "${NAME:-default}" in error.accepted


def test_a_program_named_by_a_variable_is_looked_up_at_launch(tmp_path):
    path = profile(tmp_path / "p.yml", "tool: {command: '${TOOL} --version'}\n")
    svc = parse(path)["tool"]  # not checked at load: its name is not known yet
    assert launch(svc, {"TOOL": sys.executable}).argv == (sys.executable, "--version")
    with pytest.raises(ConfigError, match=r"services\.tool\.command: program not found: looked "
                       r"for '/nowhere/node', which does not exist"):  # fmt: skip
        launch(svc, {"TOOL": "/nowhere/node"})


def test_a_node_program_runs_as_a_service(tmp_path, run):
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    port = pick_free_port()
    code = f"require('net').createServer(s => s.end()).listen({port}, '127.0.0.1')"
    path = profile(tmp_path / "p.yml", f"dispatch:\n  command: node -e \"{code}\"\n"
                   f"  ready: {{tcp: {port}}}\n")  # fmt: skip
    proc = run(parse(path)["dispatch"])
    assert Path(proc.spec.argv[0]).name == "node"
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


# -- refused at load ---------------------------------------------------------------------------


def test_a_program_that_is_not_there_is_refused_at_load_with_what_was_looked_for(tmp_path):
    write(tmp_path / "plain.sh", "echo hi\n")  # not executable
    path = profile(tmp_path / "p.yml", """
        a: {command: no-such-program-xyz --id north}
        """)  # fmt: skip
    error = refused(path)
    where = f"{path}:{line_of(path, 'no-such-program')}"
    assert str(error).startswith(f"{where}: services.a.command: program not found: "), error
    assert "'no-such-program-xyz' on PATH (" in error.problem
    assert os.environ["PATH"].split(":")[0] in error.problem
    for command, looked in [
        ("./bin/courier", f"'{tmp_path}/bin/courier', which does not exist"),
        ("./plain.sh", f"'{tmp_path}/plain.sh', which is not an executable file"),
        (str(tmp_path), f"'{tmp_path}', which is not an executable file"),
    ]:
        path = profile(tmp_path / "p.yml", f"a: {{command: {json.dumps(command)}}}\n")
        assert refused(path).problem == f"program not found: looked for {looked}"


@pytest.mark.parametrize(
    ("service", "key", "problem"),
    [
        ("{module: chaoslib.examples.arbees.shard, command: node x.js}", "services.a.command",
         "module and command are both given"),
        ("{module: chaoslib.examples.arbees.shard, cwd: /tmp}", "services.a.cwd",
         "a module service runs in the checkout"),
        ("{env: {A: b}}", "services.a.module", "is required: module"),
        ("{module: /path/x.py orchestrator}", "services.a.module",
         "names module '/path/x.py orchestrator'"),
        ("{command: []}", "services.a.command", "names no program"),
        ("{command: 'node \"x.js'}", "services.a.command", "cannot be split"),
        ("{command: [node, yes]}", "services.a.command", "True is not a string: quote it"),
        ("{command: {node: x}}", "services.a.command", "must be a list or a string"),
        ("{command: sh, cwd: nowhere}", "services.a.cwd", "is not a directory"),
        ("{backend: docker, command: node x.js}", "services.a.command",
         "a docker service runs as its compose file says"),
    ],
    ids=lambda v: v if v.startswith("{") else "",
)  # fmt: skip
def test_how_a_service_runs_is_validated_at_its_line(tmp_path, service, key, problem):
    path = profile(tmp_path / "p.yml", f"# a comment\na: {service}\n")
    error = refused(path)
    assert (error.path, error.line, error.key) == (str(path), 3, key), error
    assert problem in str(error), error


def test_a_module_string_that_is_a_command_is_pointed_at_command(tmp_path):
    error = refused(profile(tmp_path / "p.yml", "a: {module: /path/x.py orchestrator}\n"))
    assert "command: [program, args...]" in error.accepted


# -- readiness ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "expected"),
    [
        ('"Started on \\\\d+"', ReadyDef("log", pattern=r"Started on \d+")),
        ("none", ReadyDef("none")),
        ("{log: '^up$', timeout: 2.5}", ReadyDef("log", pattern="^up$", timeout=2.5)),
        ("{tcp: 8080}", ReadyDef("tcp", port=8080)),
        ("{tcp: 'db.local:5432', timeout: 600}", ReadyDef("tcp", host="db.local", port=5432, timeout=600)),
        ("{tcp: '[::1]:80'}", ReadyDef("tcp", host="::1", port=80)),
        ("{heartbeat: true, timeout: 30}", ReadyDef("heartbeat", timeout=30)),
    ],
)  # fmt: skip
def test_each_form_of_ready_loads(tmp_path, ready, expected):
    path = profile(tmp_path / "p.yml", f"a:\n  command: sh\n  ready: {ready}\n")
    assert parse(path)["a"].ready == expected


@pytest.mark.parametrize(
    ("ready", "key", "problem"),
    [
        ("{log: '(unclosed'}", "services.a.ready.log", "is not a valid regex"),
        ("{tcp: 0}", "services.a.ready.tcp", "0 is not a port"),
        ("{tcp: 70000}", "services.a.ready.tcp", "70000 is not a port"),
        ("{tcp: 'host:'}", "services.a.ready.tcp", "'host:' is not a port"),
        ("{tcp: true}", "services.a.ready.tcp", "True is not a port"),
        ("{tcp: 80, log: x}", "services.a.ready", "names 2 kinds of readiness"),
        ("{timeout: 3}", "services.a.ready", "names 0 kinds of readiness"),
        ("{log: x, timeout: 0}", "services.a.ready.timeout", "must be more than 0"),
        ("{log: x, timeout: -1}", "services.a.ready.timeout", "must be more than 0"),
        ("{log: x, timeout: 601}", "services.a.ready.timeout", "must be at most 600"),
        ("{log: x, timeout: .inf}", "services.a.ready.timeout", "must be a finite number"),
        ("{log: x, timeout: soon}", "services.a.ready.timeout", "must be int or float"),
        ("{heartbeat: false}", "services.a.ready.heartbeat", "false waits for nothing"),
        ("{http: /health}", "services.a.ready", "unknown key in services.a.ready"),
        ("8080", "services.a.ready", "must be a string or a mapping"),
    ],
)  # fmt: skip
def test_a_bad_ready_is_refused_at_its_line(tmp_path, ready, key, problem):
    path = profile(tmp_path / "p.yml", f"a:\n  command: sh\n  ready: {ready}\n")
    error = refused(path)
    assert (error.line, problem in str(error)) == (4, True), error
    assert key in str(error), error


def test_tcp_readiness_waits_until_the_childs_port_accepts(tmp_path, run):
    port = pick_free_port()
    script = write(tmp_path / "listen.py", LISTEN)
    path = profile(tmp_path / "p.yml", f"""
        api: {{command: [{PY}, {json.dumps(str(script))}, {port}, "0.5"], ready: {{tcp: {port}}}}}
        """)  # fmt: skip
    proc = run(parse(path)["api"])
    # Ready means ready: a connection succeeds at once, though the child took 0.5 s to listen.
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert "listening" in Path(proc.log_path).read_text()


def test_tcp_readiness_refuses_a_port_something_else_already_answers_on(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        proc = ProcessService("api", [sys.executable, "-c", "print(1)"], tmp_path / "api.log",
                              ready=ReadyDef("tcp", port=port))  # fmt: skip
        with pytest.raises(ServiceError, match=f"127.0.0.1:{port}, its ready: tcp address, "
                           "already accepts connections"):  # fmt: skip
            proc.start()
        assert proc.pid is None  # nothing was started


def test_heartbeat_readiness_waits_for_the_callers_heartbeat(tmp_path, run):
    script = write(tmp_path / "heart.py", HEART)
    path = profile(tmp_path / "p.yml", f"""
        courier: {{command: [{PY}, {json.dumps(str(script))}], ready: {{heartbeat: true}}}}
        """)  # fmt: skip
    beat = tmp_path / "heartbeat"
    asked: list[float] = []

    def heartbeat_seen() -> bool:
        asked.append(time.monotonic())
        return beat.exists()

    proc = run(parse(path)["courier"], heartbeat_seen=heartbeat_seen)
    assert beat.read_text() == "beat" and len(asked) > 1  # it had to wait for the beat
    assert proc.started_at is not None and proc.started_at <= beat.stat().st_mtime


def test_heartbeat_readiness_without_a_callable_is_refused_before_starting(tmp_path):
    with pytest.raises(ConfigError, match="heartbeat needs a heartbeat_seen callable"):
        ProcessService("c", ["sh"], tmp_path / "c.log", ready=ReadyDef("heartbeat"))


def test_ready_none_is_alive_after_start(tmp_path, run):
    script = write(tmp_path / "show.py", SHOW)
    path = profile(
        tmp_path / "p.yml", f"a: {{command: [{PY}, {json.dumps(str(script))}], ready: none}}\n"
    )
    proc = run(parse(path)["a"])
    assert proc.readiness == ReadyDef("none") and proc.is_running()


@pytest.mark.parametrize(
    "ready",
    [ReadyDef("log", pattern="never"), ReadyDef("tcp", port=0), ReadyDef("heartbeat")],
    ids=lambda r: r.kind,
)
def test_an_exit_during_start_up_reports_its_exit_code_and_last_log_line(tmp_path, ready):
    if ready.kind == "tcp":
        ready = ReadyDef("tcp", port=pick_free_port())
    proc = ProcessService("courier", [sys.executable, "-c", DIES], tmp_path / "c.log",
                          ready=ready, heartbeat_seen=lambda: False)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(ServiceError) as info:
        proc.start()
    message = str(info.value)
    assert message.startswith("courier exited during start-up (exit code 4)"), message
    assert message.rstrip().endswith("| fatal: no config at /etc/courier.json"), message
    assert time.monotonic() - started < ready.timeout / 2  # seen as an exit, not a timeout


@pytest.mark.parametrize(
    ("ready", "waited"),
    [
        (ReadyDef("log", pattern="^never$", timeout=0.5), "a log line matching /^never$/"),
        (ReadyDef("tcp", port=0, timeout=0.5), "a TCP connection to 127.0.0.1:{port} to succeed"),
        (ReadyDef("heartbeat", timeout=0.5), "its heartbeat"),
    ],
    ids=lambda v: v.kind if isinstance(v, ReadyDef) else "",
)
def test_a_timeout_says_which_readiness_it_waited_for(tmp_path, ready, waited):
    port = pick_free_port()
    if ready.kind == "tcp":
        ready = ReadyDef("tcp", port=port, timeout=0.5)
    proc = ProcessService("slow", [sys.executable, "-c", SHOW], tmp_path / "s.log",
                          ready=ready, heartbeat_seen=lambda: False)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(ServiceError) as info:
        proc.start()
    elapsed = time.monotonic() - started
    assert str(info.value).startswith(
        f"slow did not become ready within 0.5s: it waited for {waited.format(port=port)}"
    ), info.value
    assert 0.5 <= elapsed < 5  # the deadline, with room for a busy machine
    assert not proc.is_running()  # a service that never got ready is not left behind


# -- what was there keeps working --------------------------------------------------------------


def test_a_module_profile_still_loads_and_launches_as_python_m_in_the_checkout():
    svc = next(s for s in load_profile("local").services.values() if s.module)
    assert svc.command == () and svc.base_dir == str(REPO)
    assert svc.ready is not None and svc.ready.kind == "log"
    variables = {"PATH": os.environ["PATH"]} | {
        name: "x" for value in svc.env.values() for name in _names(value)
    }
    plan = launch(svc, variables)
    assert plan.argv == (sys.executable, "-m", svc.module) and plan.cwd == str(REPO)


def _names(text: str) -> list[str]:
    import re

    return re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)


def test_a_string_ready_pattern_still_means_a_log_line(tmp_path):
    with ProcessService("t", [sys.executable, "-c", SHOW], tmp_path / "t.log",
                        ready_pattern="^ready$", start_timeout=10) as proc:  # fmt: skip
        assert proc.readiness == ReadyDef("log", pattern="^ready$", timeout=10)
        assert "ready" in Path(proc.log_path).read_text()
