"""The docker service backend and the packet-level faults, on a real engine, observed from
another container: disconnect, pause, kill, find, logs, tbf rate, iptables loss, netem."""

from __future__ import annotations

import re

import pytest

from chaoslib.faults.ledger import Ledger
from chaoslib.faults.packet import NetworkDisconnect, PacketFault, PacketFaultError, PumbaNetem
from chaoslib.services.docker import DockerService
from chaoslib.target.reset import reset_all
from chaoslib.wait import wait_until
from tests.docker_helpers import Containers, engine, needs_docker

pytestmark = needs_docker

HTTP = ["python3", "-m", "http.server", "8000"]
IDLE = ["sleep", "infinity"]
FETCH = (
    "import sys,urllib.request; urllib.request.urlopen('http://svc:8000', timeout=1); print('ok')"
)


@pytest.fixture(scope="module")
def client():
    return engine()


@pytest.fixture
def box(client):
    containers = Containers(client)
    yield containers
    containers.close()


def _svc(box: Containers, command=HTTP) -> DockerService:
    box.run("svc", command)
    box.run("probe", IDLE)
    svc = DockerService("svc", f"{box.network}-svc", client=box.client)
    wait_until(lambda: box.exec("probe", "python3", "-c", FETCH)[0] == 0 if command == HTTP else True,
               timeout=20, what="the http server")  # fmt: skip
    return svc


def test_disconnect_makes_the_name_unresolvable_and_connect_brings_it_back(box, tmp_path):
    svc = _svc(box)
    assert box.exec("probe", "getent", "hosts", "svc")[0] == 0
    with NetworkDisconnect(svc, box.network, ledger=Ledger(tmp_path)):
        assert box.exec("probe", "getent", "hosts", "svc")[0] != 0
        assert box.exec("probe", "python3", "-c", FETCH)[0] != 0
    assert box.exec("probe", "getent", "hosts", "svc")[0] == 0
    assert box.exec("probe", "python3", "-c", FETCH)[0] == 0


def test_pause_makes_requests_time_out_and_resume_answers_again(box):
    svc = _svc(box)
    svc.pause()
    assert svc.is_paused() and svc.is_running()
    code, out = box.exec("probe", "python3", "-c", FETCH)
    assert code != 0 and "timed out" in out
    svc.resume()
    assert box.exec("probe", "python3", "-c", FETCH) == (0, "ok\n")


def test_kill_gives_exit_137_and_a_graceful_stop_does_not(box):
    svc = _svc(box, IDLE)
    svc.kill()
    wait_until(lambda: not svc.is_running(), timeout=10)
    assert svc.exit_code == 137
    svc.start()
    svc.stop(timeout=5)
    assert svc.exit_code == 143  # SIGTERM through the init process, within the grace


def test_containers_are_found_by_name_compose_label_and_regex(box):
    labels = {"com.docker.compose.service": "worker", "com.docker.compose.project": box.network}
    box.run("w1", IDLE, labels=labels)
    box.run("w2", IDLE, labels=labels)
    box.run("other", IDLE)
    by_label = DockerService.find(service="worker", project=box.network, client=box.client)
    assert [s.container_name for s in by_label] == [f"{box.network}-w1", f"{box.network}-w2"]
    assert {s.name for s in by_label} == {"worker"}
    by_regex = DockerService.find(regex=rf"^{box.network}-(w\d|other)$", client=box.client)
    assert len(by_regex) == 3
    assert [s.name for s in DockerService.find(name=f"{box.network}-other", client=box.client)]


def test_logs_stream_with_timestamps(box):
    box.run("talker", ["sh", "-c", "echo one; echo two; sleep infinity"])
    svc = DockerService("talker", f"{box.network}-talker", client=box.client)
    wait_until(lambda: "two" in svc.logs_text(), timeout=10)
    lines = list(svc.logs())
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ", line) for line in lines)


SEND = (
    "import socket,time; s=socket.create_connection(('svc',9000)); t=time.time(); n=0\n"
    "while True:\n b=s.recv(65536)\n if not b: break\n n+=len(b)\n"
    "print(n/(time.time()-t))"
)
SERVE = (
    "import socket; l=socket.socket(); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "l.bind(('',9000)); l.listen()\n"
    "while True:\n c,_=l.accept(); c.sendall(b'x'*400000); c.close()"
)
ECHO = (
    "import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('',9001))\n"
    "while True:\n d,a=s.recvfrom(100)\n try: s.sendto(d,a)\n except OSError: pass"  # a dropped reply is EPERM
)
PINGS = (
    "import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.05); n=0\n"
    "a=(socket.gethostbyname('svc'),9001)\n"
    "for i in range(400):\n s.sendto(b'p',a)\n try: s.recvfrom(10); n+=1\n except OSError: pass\n"
    "print(n)"
)


def _rate(box: Containers) -> float:
    code, out = box.exec("probe", "python3", "-c", SEND)
    assert code == 0, out
    return float(out)


def test_tbf_rate_limits_throughput_and_heal_restores_it(box, tmp_path):
    box.run("svc", ["python3", "-c", SERVE])
    box.run("probe", IDLE)
    svc = DockerService("svc", f"{box.network}-svc", client=box.client)
    wait_until(lambda: box.exec("probe", "python3", "-c", SEND)[0] == 0, timeout=20)
    baseline = _rate(box)
    with PacketFault(svc, "rate", 800, ledger=Ledger(tmp_path)):  # 800 kbit/s = 100 KB/s
        limited = _rate(box)
    after = _rate(box)
    assert 50_000 < limited < 150_000, limited
    assert baseline > 10 * limited and after > 10 * limited, (baseline, limited, after)


def test_iptables_loss_drops_about_that_share_and_heal_restores_it(box, tmp_path):
    box.run("svc", ["python3", "-c", ECHO])
    box.run("probe", IDLE)
    svc = DockerService("svc", f"{box.network}-svc", client=box.client)
    wait_until(lambda: int(box.exec("probe", "python3", "-c", PINGS)[1] or 0) > 350, timeout=20)
    with PacketFault(svc, "loss", 50, ledger=Ledger(tmp_path)):
        during = int(box.exec("probe", "python3", "-c", PINGS)[1])
    after = int(box.exec("probe", "python3", "-c", PINGS)[1])
    # 50 % on the way in and 50 % on the way out: about a quarter come back.
    assert 40 < during < 180, during
    assert after > 350, after


def test_packet_faults_left_by_a_crash_are_removed_by_reset(box, tmp_path):
    box.run("svc", IDLE)
    svc = DockerService("svc", f"{box.network}-svc", client=box.client)
    ledger = Ledger(tmp_path)
    PacketFault(svc, "rate", 800, ledger=ledger).apply()
    PacketFault(svc, "loss", 10, ledger=ledger).apply()  # replaces nothing: a second kind
    done = reset_all(tmp_path)
    assert any("removed from" in line for line in done), done
    assert ledger.entries() == []
    code, out = box.exec("svc", "tc", "qdisc", "show", "dev", "eth0")
    assert "tbf" not in out
    assert box.exec("svc", "iptables", "-L", "CHAOSLIB")[0] != 0  # the chain is gone


def test_netem_faults_fail_loudly_when_they_cannot_run(box, tmp_path):
    box.run("svc", IDLE)
    svc = DockerService("svc", f"{box.network}-svc", client=box.client)
    fault = PumbaNetem(svc, "delay", ["--time", "100"], ledger=Ledger(tmp_path))
    with pytest.raises(PacketFaultError) as info:
        fault.apply()
    message = str(info.value)
    assert "netem is not available on this kernel" in message or "Pumba image" in message
    assert Ledger(tmp_path).entries() == []  # a fault that never applied leaves nothing to heal


def test_a_container_left_stopped_or_paused_by_a_crash_is_restored_by_reset(box, tmp_path):
    from chaoslib.faults.service import ServiceFault

    box.run("a", IDLE)
    box.run("b", IDLE)
    a = DockerService("a", f"{box.network}-a", client=box.client)
    b = DockerService("b", f"{box.network}-b", client=box.client)
    ledger = Ledger(tmp_path)
    ServiceFault(a, "stop", ledger=ledger).apply()  # never healed: the owner "crashed"
    ServiceFault(b, "pause", ledger=ledger).apply()
    assert not a.is_running() and b.is_paused()
    reset_all(tmp_path)
    assert a.is_running() and b.is_running() and not b.is_paused()
    assert ledger.entries() == []


DOCKER_HOLDER = """
import sys
from pathlib import Path
from chaoslib.faults import schedule
from chaoslib.experiment.runner import Experiment
from chaoslib.faults.ledger import Ledger
from chaoslib.faults.packet import NetworkDisconnect, PacketFault
from chaoslib.faults.service import ServiceFault
from chaoslib.services.docker import DockerService

network, ending, home = sys.argv[1], sys.argv[2], Path(sys.argv[3])
ledger = Ledger(home)
svc = {n: DockerService(n, f"{network}-{n}") for n in "abcde"}
faults = {
    "stop": ServiceFault(svc["a"], "stop", ledger=ledger),
    "pause": ServiceFault(svc["b"], "pause", ledger=ledger),
    "kill": ServiceFault(svc["c"], "kill", ledger=ledger),
    "rate": PacketFault(svc["d"], "rate", 800, ledger=ledger),
    "loss": PacketFault(svc["d"], "loss", 10, ledger=ledger),
    "disconnect": NetworkDisconnect(svc["e"], network, ledger=ledger),
}
hold = 3.0 if ending == "normal" else 600
exp = Experiment("docker-hold", steady_for=0, observe_after=0)
for name, fault in faults.items():
    exp.add(name, fault, schedule.once(0, hold))
journal = exp.run()
print("STATUS", journal.status, journal.error, flush=True)
"""


def _docker_state(box: Containers, home) -> dict[str, int]:
    """Counted, as for local faults: what a leaked docker fault would leave."""
    containers = {n: box.client.containers.get(f"{box.network}-{n}") for n in "abcde"}
    for container in containers.values():
        container.reload()
    d = containers["d"]
    qdisc = box.exec("d", "tc", "qdisc", "show", "dev", "eth0")[1] if d.status == "running" else ""
    return {
        "not_running": sum(1 for c in containers.values() if c.status != "running"),
        "tbf": int("tbf" in qdisc),
        "iptables_chain": int(box.exec("d", "iptables", "-L", "CHAOSLIB")[0] == 0),
        "disconnected": int(
            box.network not in containers["e"].attrs["NetworkSettings"]["Networks"]
        ),
        "ledger_entries": len(Ledger(home).entries()),
    }


@pytest.mark.parametrize("ending", ["normal", "sigterm", "sigkill-reset"])
def test_docker_faults_never_outlive_the_run(box, tmp_path, ending):
    import signal
    import subprocess
    import sys

    from tests.helpers import REPO, run_invoke, subprocess_env

    for name in "abcde":
        box.run(name, IDLE)
    proc = subprocess.Popen(
        [sys.executable, "-c", DOCKER_HOLDER, box.network, ending, str(tmp_path)],
        cwd=REPO, env=subprocess_env(tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(
            lambda: proc.poll() is not None
            or (len(Ledger(tmp_path).entries()) == 6
                and _docker_state(box, tmp_path)["disconnected"] == 1),
            timeout=60,
            what="every docker fault to be applied",
        )  # fmt: skip
        assert proc.poll() is None or ending == "normal", proc.communicate()
        held = _docker_state(box, tmp_path)
        if ending == "sigterm":
            proc.send_signal(signal.SIGTERM)
        elif ending == "sigkill-reset":
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert held["not_running"] == 3 and held["ledger_entries"] == 6, held
    if ending == "sigkill-reset":
        result = run_invoke(tmp_path, "chaos.reset", timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert ("STATUS passed" if ending == "normal" else "STATUS interrupted") in out, err[-3000:]
    clean = dict.fromkeys(held, 0)
    wait_until(lambda: _docker_state(box, tmp_path) == clean, timeout=30, what="a clean state")
