"""ProcessService runs any program as a Service: readiness from its log, signals to its group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chaoslib.errors import ServiceError
from chaoslib.services.base import Service
from chaoslib.services.process_service import ProcessService
from chaoslib.wait import wait_until

TICKER = "import time, itertools\nprint('ready', flush=True)\nfor i in itertools.count():\n    print(i, flush=True); time.sleep(0.02)"  # ok: the child program's own pacing, not a wait in the test


def ticker(tmp_path, **kwargs) -> ProcessService:
    return ProcessService(
        "ticker", [sys.executable, "-c", TICKER], tmp_path / "ticker.log", **kwargs
    )


def lines(service: ProcessService) -> int:
    with open(service.log_path) as fh:
        return len(fh.read().splitlines())


def test_is_a_service_that_waits_for_its_ready_line(tmp_path):
    with ticker(tmp_path, ready_pattern=r"^ready$") as service:
        assert isinstance(service, Service)
        assert service.is_running() and service.pid
        assert Path(service.log_path).read_text().startswith("ready")
    assert not service.is_running()


def test_pause_stops_its_output_and_resume_restarts_it(tmp_path):
    with ticker(tmp_path, ready_pattern="ready") as service:
        wait_until(lambda: lines(service) > 5, timeout=5)
        service.pause()
        frozen = lines(service)
        assert service.is_paused()
        service.resume()
        wait_until(lambda: lines(service) > frozen + 5, timeout=5, what="output after resume")


def test_kill_and_restart(tmp_path):
    with ticker(tmp_path, ready_pattern="ready") as service:
        first = service.pid
        service.kill()
        assert not service.is_running()
        service.restart()
        assert service.is_running() and service.pid != first


def test_a_program_that_exits_during_start_up_shows_its_log(tmp_path):
    service = ProcessService(
        "broken",
        [sys.executable, "-c", "print('no config found'); raise SystemExit(3)"],
        tmp_path / "broken.log",
        ready_pattern="never",
    )
    with pytest.raises(ServiceError) as info:
        service.start()
    assert "exited during start-up (exit code 3)" in str(info.value)
    assert "no config found" in str(info.value)


def test_pause_when_not_running_is_an_error(tmp_path):
    with pytest.raises(ServiceError, match="not running"):
        ticker(tmp_path).pause()
