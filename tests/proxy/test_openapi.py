"""The OpenAPI document: true to the routes and toxics, served, and fuzzed against a live server."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import requests
import yaml

from chaoslib.proxy.api import OPENAPI, Api
from chaoslib.proxy.toxics import TOXIC_TYPES
from chaoslib.services.managed import pick_free_port
from chaoslib.toxiproxy.client import Toxiproxy
from chaoslib.wait import wait_until

DOC = yaml.safe_load(OPENAPI.read_text())
# Bounded for CI; CHAOS_OPENAPI_EXAMPLES=1000 for a longer local run.
EXAMPLES = int(os.environ.get("CHAOS_OPENAPI_EXAMPLES", "25"))


def test_every_route_is_documented_with_its_method():
    documented = {
        (method.upper(), path)
        for path, item in DOC["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete")
    }
    served = {(r.method, r.path) for r in Api(None).routes()}  # type: ignore[arg-type]
    assert served == documented


def test_every_toxic_type_and_attribute_is_documented():
    schemas = DOC["components"]["schemas"]
    assert set(schemas["ToxicType"]["enum"]) == set(TOXIC_TYPES)
    documented = set(schemas["ToxicAttributes"]["properties"])
    for name, cls in TOXIC_TYPES.items():
        missing = {f.name for f in dataclasses.fields(cls.Attributes)} - documented
        assert not missing, f"{name}: {missing} not in ToxicAttributes"


@pytest.fixture(scope="module")
def live_server():
    port = pick_free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoslib.proxy", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = Toxiproxy(f"http://127.0.0.1:{port}", timeout=5)
    wait_until(api.is_running, timeout=15, what="the proxy API")
    yield f"http://127.0.0.1:{port}", proc
    proc.terminate()
    proc.wait(10)


def test_the_document_is_served(live_server):
    url, _ = live_server
    response = requests.get(f"{url}/openapi.yaml", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(response.text) == DOC


def test_a_wrong_method_gets_405_with_allow(live_server):
    url, _ = live_server
    response = requests.put(f"{url}/version", timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"  # aiohttp answers HEAD for every GET


@pytest.mark.timeout(max(180, 120 + EXAMPLES))  # ~0.5 s per example per operation locally
def test_schemathesis_finds_no_server_error_and_the_server_survives(live_server, tmp_path):
    url, proc = live_server
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.yaml",
         "--checks", "all",
         # A schema-valid body can still name a port that does not exist (a 400 that
         # names the field); the document cannot say which hosts resolve.
         "--exclude-checks", "positive_data_acceptance",
         "--max-examples", str(EXAMPLES), "--request-timeout", "5", "--seed", "9"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:]
    assert "passed" in run.stdout
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    assert requests.get(f"{url}/version", timeout=5).json() == {"version": "2.12.0"}
