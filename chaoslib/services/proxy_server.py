"""The embedded proxy server run as a managed local process (``python -m chaoslib.proxy``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import requests

from chaoslib.services.managed import ManagedServer
from chaoslib.services.process import ProcessSpec


class ToxiproxyServer(ManagedServer):
    """A Toxiproxy-compatible API on a free port, populated from a config file.

    The proxies live in ``proxies.json`` in the run directory and are passed
    with ``-config``, so a restarted server comes back with the same proxies
    on the same ports.
    """

    kind = "toxiproxy"
    program = "chaoslib-proxy"

    def __init__(self, run_dir: str | Path, *, name: str = "toxiproxy", **kwargs: Any) -> None:
        super().__init__(name, run_dir, **kwargs)
        self.extra.update(source="embedded", version="2.12.0")

    @property
    def config_path(self) -> Path:
        return self.run_dir / "proxies.json"

    def write_config(self, proxies: list[dict[str, Any]]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(proxies, indent=2) + "\n")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_at(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    def build_spec(self) -> ProcessSpec:
        argv = [sys.executable, "-m", "chaoslib.proxy", "-host", self.host, "-port", str(self.port)]
        if self.config_path.exists():
            argv += ["-config", str(self.config_path)]
        return ProcessSpec(argv=tuple(argv), log_path=self.log_path)

    def probe(self) -> bool:
        try:
            return requests.get(self.url + "/version", timeout=0.5).status_code == 200
        except requests.RequestException:
            return False
