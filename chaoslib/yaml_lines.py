"""YAML loading that remembers where each value was written, so errors can say
"file:line: key: what is wrong", even after mappings from several files are merged."""

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
    """A mapping from YAML that knows the file and line of itself and of each key.

    ``key_files`` only holds keys written in another file than ``path``: after a merge
    (``extends``), one mapping holds values from several files of the chain."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.path = ""
        self.key_lines: dict[str, int] = {}
        self.key_files: dict[str, str] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    def file_of(self, key: str) -> str:
        return self.key_files.get(key, self.path)


def merge(base: LineDict, over: LineDict, replace: tuple[str, ...] = ()) -> LineDict:
    """``over`` on top of ``base``; mappings merge key by key (so one wait can change),
    except the ``replace`` keys, which ``over`` states whole. Every key keeps the file
    and line it was written at, so an error names the file of the chain that set it."""
    merged = LineDict(base)
    for key, value in over.items():
        old = base.get(key)
        both = isinstance(old, LineDict) and isinstance(value, LineDict) and key not in replace
        merged[key] = merge(old, value) if both else value
    merged.line, merged.path = over.line, over.path
    merged.key_lines = {**base.key_lines, **over.key_lines}
    files = {k: base.file_of(k) for k in base} | {k: over.file_of(k) for k in over}
    merged.key_files = {k: f for k, f in files.items() if f != merged.path}
    return merged


def _stamp(value: Any, path: str, seen: set[int]) -> None:
    """Record the file on every mapping loaded from it (aliases share one object)."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, LineDict):
        value.path = path
    if isinstance(value, (dict, list)):
        for item in value.values() if isinstance(value, dict) else value:
            _stamp(item, path, seen)


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
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
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise FileError(path, line, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise FileError(path, None, "", f"not valid YAML: {exc}") from None
    _stamp(doc, str(path), set())
    return doc


class Reader:
    """Typed access to a LineDict with errors that name the file, line and key."""

    def __init__(self, path: str | Path) -> None:
        self.path = path

    def fail(self, where: LineDict | None, key: str, problem: str, accepted: str = "") -> FileError:
        """An error about ``key`` (dotted; its last part is a key of ``where``), at the
        file and line that key was written."""
        if not isinstance(where, LineDict):
            return FileError(self.path, None, key, problem, accepted)
        last = key.split(".")[-1]
        return FileError(
            where.file_of(last) or self.path, where.line_of(last), key, problem, accepted
        )

    def missing(self, where: LineDict, key: str, problem: str, accepted: str = "") -> FileError:
        """An error about a key ``where`` lacks: at the mapping itself."""
        return FileError(where.path or self.path, where.line, key, problem, accepted)

    def mapping(self, value: Any, key: str, parent: LineDict | None = None) -> LineDict:
        if not isinstance(value, LineDict):
            raise self.fail(
                parent, key, f"must be a mapping, got {type(value).__name__}", "key: value pairs"
            )
        return value

    def scalars(self, data: LineDict, key: str, context: str) -> dict[str, str]:
        """A mapping of single values (env vars, patterns), each as a string."""
        raw = self.get(data, key, dict, default={}, context=context)
        for k, v in raw.items():
            if isinstance(v, (dict, list)) or v is None:
                raise self.fail(
                    raw, f"{context}.{key}.{k}", "must be a single value", "a string or a number"
                )
        return {str(k): str(v) for k, v in raw.items()}

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
                raise self.missing(data, label, "is required")
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
