"""``invoke chaos.packet`` and ``type: packet`` experiments, as a user runs them.

The flag checks need no Docker. The rest share one small compose project of
their own (redis and toxiproxy, a sender ``svc`` and a ``probe`` beside it)
and read the target's network namespace from the host with nsenter, never
through chaoslib, to judge what the task applied and what it left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from chaoslib.wait import wait_until
from tests.docker_helpers import engine, needs_docker
from tests.helpers import REPO, run_invoke, spawn_python

# Each connection on 9000 gets 200 kB; 9001 echoes UDP. At 800 kbit/s (100 kB/s) a
# transfer takes about 2 s, against milliseconds unlimited.
SERVE = """
import socket, threading
def tcp():
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(('', 9000)); l.listen()
    while True:
        c, _ = l.accept(); c.sendall(b'x' * 200000); c.close()
threading.Thread(target=tcp, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('', 9001))
while True:
    d, a = u.recvfrom(100)
    try: u.sendto(d, a)
    except OSError: pass
"""
RECEIVE = (
    "import socket,time; s=socket.create_connection(('svc',9000),timeout=30); t=time.time(); n=0\n"
    "while True:\n b=s.recv(65536)\n if not b: break\n n+=len(b)\n"
    "print(n/(time.time()-t))"
)
PINGS = (
    "import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.05); n=0\n"
    "a=(socket.gethostbyname('svc'),9001)\n"
    "for i in range(100):\n s.sendto(b'p',a)\n try: s.recvfrom(10); n+=1\n except OSError: pass\n"
    "print(n)"
)


def _invoke_fails(done: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == code, out
    assert "Traceback" not in out, out
    for needle in needles:
        assert needle in out, out
    return out


# -- flags: rejected before anything is touched, no Docker needed ---------------------------
FLAGS = {
    "no_service": ((), "--service is required"),
    "no_kind": (("--service", "svc"), "--kind is required; accepted: rate, loss, delay"),
    "unknown_kind": (("--service", "svc", "--kind", "jitter"), "'jitter' is not valid"),
    "no_value": (("--service", "svc", "--kind", "rate"), "--value is required for --kind rate"),
    "value_not_a_number": (
        ("--service", "svc", "--kind", "loss", "--value", "half"),
        "--value='half' is not a number; % > 0 and <= 100",
    ),
    "loss_above_100": (
        ("--service", "svc", "--kind", "loss", "--value", "101"),
        "loss 101 is out of range; accepted: % > 0 and <= 100",
    ),
    "rate_zero": (
        ("--service", "svc", "--kind", "rate", "--value", "0"),
        "rate 0 is out of range; accepted: kbit/s > 0",
    ),
    "delay_not_whole": (
        ("--service", "svc", "--kind", "delay", "--value", "2.5"),
        "a whole number of ms",
    ),
    "negative_duration": (
        ("--service", "svc", "--kind", "rate", "--value", "800", "--duration", "-1"),
        "--duration='-1' is too short",
    ),
    "no_profile": (
        ("--service", "svc", "--kind", "rate", "--value", "800"),
        "packet faults act inside a container's network namespace, so they need docker mode",
    ),
    "profile_without_compose": (
        ("--service", "svc", "--kind", "rate", "--value", "800", "--profile", "local"),
        "need docker mode: give --profile with a compose section",
    ),
}


@pytest.mark.parametrize("case", sorted(FLAGS))
def test_bad_flags_exit_2_saying_what_is_accepted(tmp_path, case):
    args, needle = FLAGS[case]
    _invoke_fails(run_invoke(tmp_path, "chaos.packet", *args, timeout=60), 2, needle)


# -- one compose project for the docker cases -------------------------------------------------
@dataclass(frozen=True)
class Project:
    profile: Path
    name: str
    client: object

    def container(self, service: str):  # noqa: ANN201 - a docker container
        found = self.client.containers.list(
            filters={"label": [f"com.docker.compose.project={self.name}",
                               f"com.docker.compose.service={service}"]}
        )  # fmt: skip
        assert found, f"no {service} container in {self.name}"
        return found[0]

    def netns(self, *argv: str) -> subprocess.CompletedProcess:
        """A command in svc's network namespace, run from the host (not through chaoslib)."""
        pid = self.container("svc").attrs["State"]["Pid"]
        return subprocess.run(["nsenter", "-t", str(pid), "-n", *argv],
                              capture_output=True, text=True, timeout=30)  # fmt: skip

    def qdisc(self) -> str:
        return self.netns("tc", "qdisc", "show", "dev", "eth0").stdout

    def qdiscs(self) -> list[dict]:
        """``tc -j`` on svc's eth0: compared whole to prove a qdisc was not touched."""
        return json.loads(self.netns("tc", "-j", "qdisc", "show", "dev", "eth0").stdout)

    def chain(self) -> bool:
        return self.netns("iptables", "-S", "CHAOSLIB").returncode == 0

    def jumps(self) -> bool:
        return "-j CHAOSLIB" in self.netns("iptables", "-S").stdout

    def clean(self) -> bool:
        qdisc = self.qdisc()
        return "tbf" not in qdisc and "netem" not in qdisc and not self.chain() and not self.jumps()

    def probe(self, script: str) -> str:
        code, out = self.container("probe").exec_run(["python3", "-c", script])
        assert code == 0, out
        return out.decode().strip()

    def rate(self) -> float:
        return float(self.probe(RECEIVE))

    def pings(self) -> int:
        return int(self.probe(PINGS))


def _write_project(tmp: Path, name: str) -> Path:
    compose = {
        "services": {
            "redis": {"image": "chaoslib/redis:local", "init": True,
                      "command": ["redis-server", "--protected-mode", "no"]},
            "svc": {"image": "chaoslib/base:local", "init": True,
                    "command": ["python3", "-c", SERVE]},
            "probe": {"image": "chaoslib/base:local", "init": True,
                      "command": ["sleep", "infinity"]},
        }
    }  # fmt: skip
    (tmp / "compose.yml").write_text(yaml.safe_dump(compose))
    (tmp / "proxies.json").write_text(json.dumps([
        {"name": "redis", "listen": "0.0.0.0:6379", "upstream": "redis:6379", "enabled": True}
    ]))  # fmt: skip
    profile = {
        "extends": "local",
        "name": "packet-test",
        "description": "a sender and a probe, for packet faults",
        "compose": {
            # Absolute paths: nothing here depends on how relative ones resolve.
            "files": [str(tmp / "compose.yml"), str(REPO / "docker-compose.chaos.yml")],
            "project": name,
            "proxy_config": str(tmp / "proxies.json"),
            "redis": "redis",
            "toxiproxy": "toxiproxy",
            "env": {"TOXIPROXY_IMAGE": "chaoslib/toxiproxy:local",
                    "REDIS_IMAGE": "chaoslib/redis:local"},
        },
        "links": {},
        "services": {"svc": {"backend": "docker"}, "probe": {"backend": "docker"}},
    }  # fmt: skip
    path = tmp / "profile.yml"
    path.write_text(yaml.safe_dump(profile))
    return path


def _compose(profile: Path, *args: str) -> subprocess.CompletedProcess:
    """docker-compose on this module's project, with the profile's files and variables."""
    import os

    from chaoslib.profiles import load_profile
    from chaoslib.target.compose_system import compose_command

    compose = load_profile(profile).compose
    assert compose is not None
    files = [a for f in compose.files for a in ("-f", f)]
    # TOXIPROXY_PORT 0: any free port for the API, read back from the container.
    env = {**os.environ, **compose.env, "CHAOS_PROXY_CONFIG": compose.proxy_config,
           "TOXIPROXY_PORT": "0"}  # fmt: skip
    return subprocess.run([*compose_command(), "-p", compose.project, *files, *args], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from chaoslib.target import open_target
    from chaoslib.toxiproxy.client import Toxiproxy

    client = engine()
    tmp = tmp_path_factory.mktemp("packet")
    name = f"chaospkt{uuid.uuid4().hex[:8]}"
    profile = _write_project(tmp, name)
    try:
        up = _compose(profile, "up", "-d")
        assert up.returncode == 0, up.stderr
        made = Project(profile, name, client)
        api = made.container("toxiproxy").attrs["NetworkSettings"]["Ports"]["8474/tcp"][0]
        toxiproxy = Toxiproxy(f"http://127.0.0.1:{api['HostPort']}")
        wait_until(toxiproxy.is_running, timeout=60, what="the project's toxiproxy")
        assert open_target(str(profile)).kind == "compose"
        wait_until(lambda: made.container("probe").exec_run(["python3", "-c", RECEIVE])[0] == 0,
                   timeout=60, what="svc serving")  # fmt: skip
        yield made
    finally:
        down = _compose(profile, "down", "-v", "--remove-orphans")  # this project only
        assert down.returncode == 0, down.stderr


@pytest.fixture
def svc(project, tmp_path):
    """The project, checked clean before each test; whatever a failed test left is removed."""
    assert project.clean(), (project.qdisc(), project.netns("iptables", "-S").stdout)
    yield project
    from chaoslib.faults.packet import clear

    clear(project.container("svc").attrs["State"]["Pid"], "eth0")


def _packet(project: Project, *args: str) -> list[str]:
    return ["-m", "invoke", "chaos.packet", "--profile", str(project.profile), "--service",
            "svc", *args]  # fmt: skip


@needs_docker
def test_rate_slows_a_transfer_in_the_project_and_leaves_no_qdisc(svc, tmp_path):
    baseline = svc.rate()
    task = spawn_python(tmp_path, *_packet(svc, "--kind", "rate", "--value", "800",
                                           "--duration", "8"))  # fmt: skip
    try:
        wait_until(lambda: "tbf" in svc.qdisc() or task.poll() is not None, timeout=30,
                   what="the tbf qdisc")  # fmt: skip
        assert task.poll() is None, task.communicate()  # measure only inside the fault
        limited = svc.rate()
        out, err = task.communicate(timeout=60)
    finally:
        task.kill()
    assert task.returncode == 0, out + err
    after = svc.rate()
    assert 50_000 < limited < 150_000, limited  # 800 kbit/s is 100 kB/s
    assert baseline > 10 * limited and after > 10 * limited, (baseline, limited, after)
    assert "Verified: tbf root qdisc c4a0: on eth0" in out and "at 800 kbit/s" in out, out
    assert "Nothing of chaoslib's is left in" in out, out
    assert "tbf" not in svc.qdisc()


@needs_docker
def test_loss_drops_packets_and_sigterm_heals_it(svc, tmp_path):
    assert svc.pings() >= 85
    task = spawn_python(tmp_path, *_packet(svc, "--kind", "loss", "--value", "50",
                                           "--duration", "120"))  # fmt: skip
    try:
        wait_until(lambda: (svc.chain() and svc.jumps()) or task.poll() is not None,
                   timeout=30, what="the iptables rule")  # fmt: skip
        assert task.poll() is None, task.communicate()  # measure only inside the fault
        during = svc.pings()
        task.send_signal(signal.SIGTERM)
        out, err = task.communicate(timeout=60)
    finally:
        task.kill()
    # 50 % in and 50 % out: about a quarter of the echoes come back.
    assert 5 < during < 60, during
    assert task.returncode == 143, out + err  # 128 + SIGTERM (15)
    assert "drops 50% on INPUT and OUTPUT" in out and "Healed: loss 50% on svc" in out, out
    assert "interrupted: the fault was healed" in err, err
    assert svc.clean()
    assert svc.pings() >= 85


@needs_docker
def test_a_sigkilled_task_leaves_its_faults_for_chaos_reset(svc, tmp_path):
    from chaoslib.faults.ledger import Ledger

    tasks = [
        spawn_python(tmp_path, *_packet(svc, "--kind", kind, "--value", value, "--duration", "0"))
        for kind, value in (("rate", "800"), ("loss", "10"))
    ]
    try:
        both = lambda: "tbf" in svc.qdisc() and svc.chain() and svc.jumps()  # noqa: E731
        wait_until(lambda: both() or any(t.poll() is not None for t in tasks), timeout=30,
                   what="both faults")  # fmt: skip
        assert all(t.poll() is None for t in tasks), [t.communicate() for t in tasks]
        wait_until(lambda: len(Ledger(tmp_path).entries()) == 2, timeout=10, what="the ledger")
    finally:
        for task in tasks:
            task.send_signal(signal.SIGKILL)
            task.communicate(timeout=30)
    assert [t.returncode for t in tasks] == [-9, -9]
    assert "tbf" in svc.qdisc() and svc.chain()  # nobody healed: the crash left them
    done = run_invoke(tmp_path, "chaos.reset", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed from" in done.stdout, done.stdout
    assert svc.clean(), (svc.qdisc(), svc.netns("iptables", "-S").stdout)
    assert Ledger(tmp_path).entries() == []


@needs_docker
@pytest.mark.parametrize("kind,value", [("delay", "100"), ("corrupt", "5")])
def test_netem_kinds_fail_with_the_reason_and_leave_nothing(svc, tmp_path, kind, value):
    from chaoslib.faults.ledger import Ledger

    done = run_invoke(tmp_path, *_packet(svc, "--kind", kind, "--value", value)[2:], timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out, out
    # This kernel has no netem; where one does, the missing Pumba image is the reason.
    assert "netem is not available on this kernel" in out or "Pumba image" in out, out
    assert svc.clean() and Ledger(tmp_path).entries() == []


@needs_docker
def test_an_unknown_service_is_refused_with_the_projects_services(svc, tmp_path):
    args = _packet(svc, "--kind", "rate", "--value", "800")[2:]
    args[args.index("svc")] = "nope"
    _invoke_fails(run_invoke(tmp_path, *args, timeout=120), 2, "unknown service 'nope'",
                  "probe", "svc", "toxiproxy")  # fmt: skip
    assert svc.clean()


def _fault(project: Project, kind: str, value: float, home: Path):
    from chaoslib.faults.packet import packet_fault
    from chaoslib.target import open_target

    env = open_target(str(project.profile), home)
    return packet_fault(env.service("svc"), kind, value, duration=10, ledger=env.ledger)


@needs_docker
def test_verify_reads_back_a_fault_in_place_and_fails_one_that_is_not(svc, tmp_path):
    from chaoslib.faults.packet import PacketFaultError

    with _fault(svc, "rate", 800, tmp_path) as rate, _fault(svc, "loss", 20, tmp_path) as loss:
        assert "at 800 kbit/s" in rate.verify()  # healthy: no false alarm
        assert "drops 20% on INPUT and OUTPUT" in loss.verify()
        svc.netns("tc", "qdisc", "del", "dev", "eth0", "root")  # someone removed them
        removed = svc.netns("iptables", "-D", "OUTPUT", "-m", "comment", "--comment", "chaoslib",
                            "-j", "CHAOSLIB")  # fmt: skip
        assert removed.returncode == 0, removed.stderr  # the jump chaoslib marks as its own
        with pytest.raises(PacketFaultError, match="tbf qdisc is not in place on eth0.*noqueue"):
            rate.verify()
        with pytest.raises(
            PacketFaultError, match="jumped to from INPUT .needed: INPUT and OUTPUT"
        ):
            loss.verify()
    assert svc.clean()


@needs_docker
def test_leftovers_names_what_a_heal_missed_and_nothing_after_a_clean_heal(svc, tmp_path):
    rate = _fault(svc, "rate", 800, tmp_path)
    with rate:
        pass
    assert rate.leftovers() == []  # healthy: no false alarm
    tbf = ("tbf", "rate", "1mbit", "burst", "1600b", "latency", "50ms")
    svc.netns("tc", "qdisc", "add", "dev", "eth0", "root", *tbf)  # the user's, not a leftover
    assert rate.leftovers() == []
    svc.netns("tc", "qdisc", "del", "dev", "eth0", "root")
    svc.netns("tc", "qdisc", "add", "dev", "eth0", "root", "handle", "c4a0:", *tbf)
    assert rate.leftovers() == ["tbf qdisc on eth0"]  # chaoslib's handle: a heal missed it
    loss = _fault(svc, "loss", 10, tmp_path)
    with loss:
        pass
    svc.netns("iptables", "-N", "CHAOSLIB")
    svc.netns("iptables", "-I", "INPUT", "-j", "CHAOSLIB")
    assert loss.leftovers() == ["iptables chain CHAOSLIB", "iptables INPUT jump to CHAOSLIB"]


@needs_docker
def test_a_yaml_experiment_with_packet_faults_journals_their_windows(svc, tmp_path):
    experiment = tmp_path / "thin.yml"
    experiment.write_text(
        "name: thin-pipe\nsteady_for: 0\nobserve_after: 0\nfaults:\n"
        "  - {name: slow-svc, type: packet, service: svc, kind: rate, value: 800, at: 0, for: 2}\n"
        "  - {name: lossy-svc, type: packet, service: svc, kind: loss, value: 10, at: 0.5,"
        " for: 1}\n"
    )
    started = time.monotonic()
    done = run_invoke(tmp_path, "chaos.run", str(experiment), "--profile", str(svc.profile),
                      "--journal", str(tmp_path / "j.json"), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    journal = json.loads((tmp_path / "j.json").read_text())
    assert journal["status"] == "passed", journal["error"]
    events = {(f["fault"], f["action"]): f for f in journal["faults"]}
    assert set(events) == {(n, a) for n in ("slow-svc", "lossy-svc") for a in ("apply", "heal")}
    assert all(f["error"] is None for f in journal["faults"])
    slow = events["slow-svc", "heal"]["t"] - events["slow-svc", "apply"]["t"]
    lossy = events["lossy-svc", "heal"]["t"] - events["lossy-svc", "apply"]["t"]
    assert 1.9 < slow < 4 and 0.9 < lossy < 3, (slow, lossy)  # for: 2 and for: 1
    assert events["slow-svc", "apply"]["description"] == "rate 800 kbit/s on svc:eth0"
    assert events["lossy-svc", "apply"]["description"] == "loss 10% on svc:eth0"
    assert time.monotonic() - started < 60
    assert svc.clean()


@needs_docker
def test_a_yaml_packet_fault_on_an_unknown_service_names_the_line(svc, tmp_path):
    experiment = tmp_path / "bad.yml"
    experiment.write_text(
        "name: bad\nfaults:\n"
        "  - {name: x, type: packet, service: nope, kind: rate, value: 800, for: 1}\n"
    )
    done = run_invoke(tmp_path, "chaos.run", str(experiment), "--profile", str(svc.profile),
                      timeout=120)  # fmt: skip
    _invoke_fails(done, 2, f"{experiment}:3: faults[0].service: unknown service 'nope'", "svc")


# -- a root qdisc the user set is theirs: never replaced, never removed ------------------------
USER_TBF = ("tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms")


@pytest.fixture
def user_qdisc(svc):
    """svc with a root tbf of the user's own (the kernel picks its handle, as for any user)."""
    added = svc.netns("tc", "qdisc", "add", "dev", "eth0", "root", *USER_TBF)
    assert added.returncode == 0, added.stderr
    before = svc.qdiscs()
    assert before[0]["kind"] == "tbf" and before[0]["handle"] != "c4a0:", before
    yield svc, before
    svc.netns("tc", "qdisc", "del", "dev", "eth0", "root")  # the test's own, by hand


@needs_docker
@pytest.mark.parametrize("kind,value", [("rate", "800"), ("delay", "100")])
def test_a_fault_on_a_root_qdisc_the_user_set_is_refused_and_leaves_it(user_qdisc, tmp_path,
                                                                        kind, value):  # fmt: skip
    from chaoslib.faults.ledger import Ledger

    svc, before = user_qdisc
    done = run_invoke(tmp_path, *_packet(svc, "--kind", kind, "--value", value,
                                         "--duration", "1")[2:], timeout=120)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "Traceback" not in out, out
    assert f"has a root qdisc chaoslib did not add (tbf {before[0]['handle']}" in out, out
    assert "chaoslib will not replace a qdisc it did not add" in out, out
    assert svc.qdiscs() == before  # still there, unchanged
    assert Ledger(tmp_path).entries() == []


# What a rate fault records (kinds, qdisc, handle), and an entry from before handles were.
ENTRIES = {
    "rate_entry": {"interface": "eth0", "kinds": ["rate"], "qdisc": "tbf", "handle": "c4a0:"},
    "entry_without_marks": {"interface": "eth0"},
}


@needs_docker
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_chaos_reset_leaves_a_root_qdisc_the_user_set_and_says_so(user_qdisc, tmp_path, entry):
    from chaoslib.faults.ledger import Ledger, LedgerEntry

    svc, before = user_qdisc
    container = svc.container("svc").name
    # As a SIGKILLed run leaves it: its entry in the ledger, the user's qdisc in place.
    target = {"container": container, **ENTRIES[entry]}
    Ledger(tmp_path).add(LedgerEntry("packet", target, "rate 800 kbit/s on svc:eth0"))
    done = run_invoke(tmp_path, "chaos.reset", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"left alone: tbf {before[0]['handle']}" in done.stdout, done.stdout
    assert "root qdisc on eth0: not chaoslib's" in done.stdout, done.stdout
    assert svc.qdiscs() == before  # not removed, not changed
    assert Ledger(tmp_path).entries() == []  # the entry is healed: chaoslib's part is gone
