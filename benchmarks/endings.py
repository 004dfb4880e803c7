"""Signal and SIGKILL trials against the fault tasks, counted, not eyeballed.

Each trial starts a real ``invoke chaos.*`` task against an embedded stack
(``invoke stack.up`` in a temporary home), waits until its fault is in place,
waits a random extra moment (the variable under test: a signal may land in any
phase of an apply), and ends the task with SIGINT, SIGTERM or SIGKILL. It then
counts what a leaked fault would leave: toxics, disabled proxies, services
down or paused, ledger entries. After a SIGKILL (or any leftover) it runs
``invoke chaos.reset`` and counts again. Two trials also tear the stack down
and bring up a new one between the kill and the reset, and one kills the
proxy server itself.

    python benchmarks/endings.py --rounds 2 --markdown

Exit 1 if anything is left after a signal that should have healed it, or after
the reset.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from chaoslib.faults.ledger import Ledger
from chaoslib.services import stack as stack_mod
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import WaitTimeout, wait_until

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = textwrap.dedent(
    """\
    name: pause-and-stop
    steady_for: 0.5
    observe_after: 0
    faults:
      - {name: pause-redis, type: pause, service: redis, at: 0, for: 3}
      - {name: stop-postgres, type: stop, service: postgres, at: 0, for: 3}
    """
)
# (name, task arguments, what shows the fault is in place)
TASKS = [
    ("redis-down", ["chaos.redis-down", "--duration", "30"], "Applied:"),
    ("db-down", ["chaos.db-down", "--duration", "30"], "Applied:"),
    ("db-slow", ["chaos.db-slow", "--duration", "30"], "Applied:"),
    ("redis-flap", ["chaos.redis-flap", "--cycles", "10"], "Applied:"),
    ("bandwidth", ["chaos.bandwidth", "--service", "redis", "--rate", "1"], "Applied:"),
    (
        "partition",
        ["chaos.partition", "--client", "127.0.0.2", "--service", "redis", "--duration", "30"],
        "Applied:",
    ),
    ("pause+stop", ["chaos.run", "{experiment}", "--journal", "{journal}"], "steady"),
]
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


@dataclass(frozen=True)
class Trial:
    task: str
    sig: str
    exit_code: int
    before: dict[str, int]
    reset_code: int | None
    after: dict[str, int]
    note: str = ""

    @property
    def clean(self) -> bool:
        return not any(self.after.values())


def environ(home: Path) -> dict[str, str]:
    env = dict(os.environ, CHAOS_HOME=str(home), PYTHONUNBUFFERED="1", COLUMNS="160")
    env.pop("TOXIPROXY_URL", None)
    return env


def invoke(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO,
        env=environ(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def leftovers(home: Path) -> dict[str, int]:
    stack = stack_mod.Stack.load(home)
    found = {"toxics": 0, "disabled": 0, "down": 0, "paused": 0, "ledger": 0}
    found["down"] = sum(1 for s in stack.services.values() if not s.is_running())
    found["paused"] = sum(1 for s in stack.services.values() if s.is_paused())
    found["ledger"] = len(Ledger(home).entries())
    if stack.services["toxiproxy"].is_running():
        proxies = Toxiproxy(stack.proxy_url).proxies().values()
        found["toxics"] = sum(len(p.toxics) for p in proxies)
        found["disabled"] = sum(1 for p in proxies if not p.enabled)
    return found


class Running:
    """A task started in its own session, its output read by a thread."""

    def __init__(self, home: Path, argv: list[str], ready: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", *argv],
            cwd=REPO,
            env=environ(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        self._seen = threading.Event()
        self._ready = ready
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            wait_until(self._seen.is_set, timeout=60, what=f"{argv[0]} to apply its fault")
        except WaitTimeout:
            self.proc.kill()
            print("".join(self.output), file=sys.stderr)
            raise

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.output.append(line)
            if self._ready in line:
                self._seen.set()

    def end(self, sig: int) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=120)
        self._reader.join(10)
        return code

    @property
    def traceback(self) -> bool:
        return any("Traceback" in line for line in self.output)


def run_trial(home: Path, name: str, args: list[str], ready: str, sig: str, rng) -> Trial:
    experiment = home / "pause-and-stop.yml"
    experiment.write_text(EXPERIMENT)
    argv = [a.format(experiment=experiment, journal=home / "journal.json") for a in args]
    task = Running(home, argv, ready)
    # The random extra wait is the variable under test, not synchronisation.
    time.sleep(rng.uniform(0.0, 1.0))
    code = task.end(SIGNALS[sig])
    before = leftovers(home)
    reset_code, after = None, before
    if sig == "SIGKILL" or any(before.values()):
        reset_code = invoke(home, "chaos.reset").returncode
        after = leftovers(home)
    return Trial(name, sig, code, before, reset_code, after, "traceback" if task.traceback else "")


def restacked_trial(home: Path, kill_proxy: bool) -> Trial:
    """SIGKILL mid-hold, then a new stack (or a dead proxy), then one reset."""
    name = "redis-down, proxy killed" if kill_proxy else "redis-down, stack.down + stack.up"
    code = Running(home, ["chaos.redis-down", "--duration", "30"], "Applied:").end(signal.SIGKILL)
    if kill_proxy:
        stack = stack_mod.Stack.load(home)
        psutil.Process(stack.services["toxiproxy"].pid).kill()
    else:
        invoke(home, "stack.down")
        invoke(home, "stack.up")
    before = leftovers(home)
    reset = invoke(home, "chaos.reset")
    second = invoke(home, "chaos.reset").returncode
    note = f"second reset exit {second}" + ("; traceback" if "Traceback" in reset.stderr else "")
    return Trial(name, "SIGKILL", code, before, reset.returncode, leftovers(home), note)


def markdown(trials: list[Trial]) -> str:
    def fmt(counts: dict[str, int]) -> str:
        parts = [f"{k} {v}" for k, v in counts.items() if v]
        return ", ".join(parts) or "none"

    rows = ["| task | signal | exit | left before reset | reset exit | left after | note |"]
    rows.append("|---|---|---|---|---|---|---|")
    for t in trials:
        reset = "-" if t.reset_code is None else str(t.reset_code)
        rows.append(
            f"| {t.task} | {t.sig} | {t.exit_code} | {fmt(t.before)} | {reset} | "
            f"{fmt(t.after)} | {t.note} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="trials per task and signal")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    opts = parser.parse_args()
    if opts.rounds < 1:
        parser.error("--rounds must be at least 1")
    rng = random.Random(opts.seed)
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="chaos-endings-") as tmp:
        home = Path(tmp) / ".chaos"
        up = invoke(home, "stack.up")
        if up.returncode != 0:
            print(up.stdout + up.stderr, file=sys.stderr)
            return 1
        try:
            started = time.monotonic()
            for _ in range(opts.rounds):
                for name, args, ready in TASKS:
                    for sig in SIGNALS:
                        trial = run_trial(home, name, args, ready, sig, rng)
                        trials.append(trial)
                        print(
                            f"{name:12} {sig:8} exit {trial.exit_code:4} "
                            f"left {sum(trial.after.values())} {trial.note}",
                            flush=True,
                        )
            trials.append(restacked_trial(home, kill_proxy=False))
            trials.append(restacked_trial(home, kill_proxy=True))
            elapsed = time.monotonic() - started
        finally:
            invoke(home, "stack.down")
    if opts.markdown:
        print(markdown(trials))
    healed_by_signal = [t for t in trials if t.sig != "SIGKILL" and any(t.before.values())]
    dirty = [t for t in trials if not t.clean or t.note.startswith("traceback")]
    print(
        f"{len(trials)} trials in {elapsed:.0f}s: {len(healed_by_signal)} left something after "
        f"SIGINT/SIGTERM, {len(dirty)} left something after the reset or printed a traceback"
    )
    return 1 if healed_by_signal or dirty else 0


if __name__ == "__main__":
    sys.exit(main())
