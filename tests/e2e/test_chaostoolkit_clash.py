"""chaoslib refuses to share a package directory with chaostoolkit-lib: a real copy of
the package, imported by a fresh interpreter from a site directory built in tmp_path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "chaoslib"


def _site_with_chaoslib(tmp_path: Path, *foreign: str) -> Path:
    """A site directory holding a copy of this chaoslib's package files, plus ``foreign``."""
    site = tmp_path / "site"
    package = site / "chaoslib"
    package.mkdir(parents=True)
    for name in ("__init__.py", "errors.py"):
        shutil.copy(PACKAGE / name, package / name)
    for name in foreign:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text('"""Chaos Toolkit library."""\n')
    return site


def _import_from(site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import chaoslib; print(chaoslib.__file__)"],
        cwd=site,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_stops_when_chaostoolkit_libs_files_share_the_package(tmp_path):
    site = _site_with_chaoslib(tmp_path, "activity.py", "hypothesis.py", "control/__init__.py")
    result = _import_from(site)
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("chaoslib.errors.ChaosError: ")
    assert f"{site / 'chaoslib'} holds chaostoolkit-lib's files (activity.py, hypothesis.py, " \
        "control/__init__.py)" in last  # fmt: skip
    assert "separate virtual environments" in last and "pip uninstall chaostoolkit-lib" in last


def test_a_clean_copy_and_a_single_coincidental_file_import(tmp_path):
    site = _site_with_chaoslib(tmp_path / "one", "activity.py")
    result = _import_from(site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(site / "chaoslib" / "__init__.py")
