"""YAML loading that remembers line numbers, so errors can say "file:line: key: what is wrong"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chaoslib.errors import ConfigError


class FileError(ConfigError):
    def __init__(
        self, path: str | Path, line: int | None, key: str, problem: str, accepted: str = ""
    ) -> None:
        self.path, self.line, self.key, self.problem, self.accepted = (
            str(path),
            line,
            key,
            problem,
            accepted,
        )
        where = f"{path}:{line}" if line else str(path)
        text = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        if accepted:
            text += f" (accepted: {accepted})"
        super().__init__(text)


class LineDict(dict):
    """A mapping from YAML that knows the line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(path: str | Path) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise FileError(path, None, "", f"cannot read the file: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise FileError(path, line, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise FileError(path, None, "", f"not valid YAML: {exc}") from None


class Reader:
    """Typed access to a LineDict with errors that name the file, line and key."""

    def __init__(self, path: str | Path) -> None:
        self.path = path

    def fail(self, where: LineDict | None, key: str, problem: str, accepted: str = "") -> FileError:
        line = where.line_of(key.split(".")[-1]) if isinstance(where, LineDict) else None
        return FileError(self.path, line, key, problem, accepted)

    def mapping(self, value: Any, key: str, parent: LineDict | None = None) -> LineDict:
        if not isinstance(value, LineDict):
            raise self.fail(
                parent, key, f"must be a mapping, got {type(value).__name__}", "key: value pairs"
            )
        return value

    def only(self, data: LineDict, allowed: set[str], context: str) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    data, str(key), f"unknown key in {context}", ", ".join(sorted(allowed))
                )

    def get(
        self,
        data: LineDict,
        key: str,
        kind: type | tuple[type, ...],
        *,
        default: Any = None,
        required: bool = False,
        minimum: float | None = None,
        choices: tuple[str, ...] | None = None,
        context: str = "",
    ) -> Any:
        label = f"{context}.{key}" if context else key
        if key not in data or data[key] is None:
            if required:
                raise FileError(self.path, data.line, label, "is required")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # YAML's yes/no/true are bools, and bool is an int in Python: not a number here.
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(data, label, f"must be {names}, got {value!r}", names)
        if choices is not None and value not in choices:
            raise self.fail(data, label, f"{value!r} is not valid", ", ".join(choices))
        if minimum is not None and value < minimum:
            raise self.fail(
                data, label, f"must be >= {minimum}, got {value}", f"a number >= {minimum}"
            )
        return value
