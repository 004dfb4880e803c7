"""The docker-mode tests share one Docker engine: xdist must send them all to one worker."""

from __future__ import annotations

import pytest

from tests.conftest import TESTS, one_at_a_time


@pytest.mark.parametrize(
    ("nodeid", "together"),
    [
        ("tests/e2e/test_docker_compose.py::test_a", True),
        ("tests/e2e/test_packet_tasks.py::test_b[loss::x]", True),
        ("tests/e2e/test_suite.py::test_docker_like_name", False),
        ("tests/e2e/test_stack.py::test_c", False),
    ],
)
def test_the_docker_files_are_one_unit_and_the_others_are_not(nodeid, together):
    assert one_at_a_time(nodeid) is together


def test_every_file_that_needs_the_engine_is_in_the_unit():
    """A new docker test file must join the unit, or it would race the others for the
    engine (and the compose project names they share) on the other worker."""
    needs = [p for p in (TESTS / "e2e").glob("test_*.py") if "docker_helpers" in p.read_text()]
    assert len(needs) >= 7, needs
    assert [p.name for p in needs if not one_at_a_time(str(p.relative_to(TESTS.parent)))] == []
