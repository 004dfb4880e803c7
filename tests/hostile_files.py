"""Builders of hostile experiment and profile files, shared by the unit tests that load
them and the end-to-end ones that hand them to ``chaos run``."""

from __future__ import annotations

from pathlib import Path

from chaoslib.profiles import load_profile

GOOD = """\
name: ok
observers:
  - {type: redis_ping, name: redis, link: redis}
faults:
  - {name: cut, type: latency, link: redis, latency: 10, at: 0, for: 1}
checks:
  - {type: recovered_within, observer: redis, seconds: 2}
"""
LOCAL = Path(load_profile("local").path).read_text()
DEEP_LIST = "name: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_MAP = "name: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def many_faults(count: int, *, links: int = 1, extra: str = "", at=lambda i: 0) -> str:
    lines = [
        f"  - {{name: f{i}, type: latency, link: l{i % links}, latency: 1, "
        f"at: {at(i)}, for: 1{extra}}}"
        for i in range(count)
    ]
    return "name: many\nfaults:\n" + "\n".join(lines) + "\n"
