"""Paths a module works out from its own place in the package: they move when it does."""

from __future__ import annotations

from pathlib import Path

from chaoslib.profiles import modules, services

REPO = Path(__file__).resolve().parents[2]
BUILTIN = REPO / "chaoslib" / "profiles"


def test_the_checkout_that_process_services_run_from_is_the_repository():
    assert modules.CHECKOUT == REPO
    assert (modules.CHECKOUT / "pyproject.toml").is_file()


def test_a_builtin_profile_names_files_from_the_checkout():
    assert services.base_dir(str(BUILTIN / "compose.yml")) == str(REPO)


def test_a_users_profile_names_files_from_its_own_directory(tmp_path):
    assert services.base_dir(str(tmp_path / "mine.yml")) == str(tmp_path)
