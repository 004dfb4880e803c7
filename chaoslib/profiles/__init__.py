"""Profiles: one YAML file per system under test, the reader next to the built-in ones.

``load_profile`` is the way in; :mod:`.profile` holds the model, :mod:`.file` the reader.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from chaoslib.errors import ConfigError
from chaoslib.profiles.file import builtin_profiles, parse_profile
from chaoslib.profiles.profile import LinkDef, Profile, ServiceDef

__all__ = ["LinkDef", "Profile", "ServiceDef", "builtin_profiles", "load_profile"]


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name (``local``), or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        candidate = resources.files("chaoslib.profiles") / f"{name_or_path}.yml"
        if not candidate.is_file():
            raise ConfigError(
                f"no profile named {name_or_path!r}; built in: {', '.join(builtin_profiles())}, "
                "or give a path to a .yml file"
            )
        path = Path(str(candidate))
    return parse_profile(path)
