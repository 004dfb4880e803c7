"""YAML loading that remembers where each value was written, so errors can say
"file:line: key: what is wrong", even after mappings from several files are merged."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from chaoslib.errors import ConfigError

# A hand-written experiment or profile is a few KiB, a few levels deep. The bounds keep a
# binary, huge or deeply nested file a one-line error instead of a hang or a RecursionError
# from the (recursive) YAML composer and constructor.
MAX_BYTES = 1 << 20
MAX_DEPTH = 50
# Any whole number in a file: what a real (Go) Toxiproxy can hold in an int64.
MAX_INT = 2**63 - 1
TEXT = "a UTF-8 YAML text file of at most 1 MiB"


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


class _TooDeep(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """Refuses nesting deeper than MAX_DEPTH while composing, before any recursion runs out.

    Two measures: how deep the text nests (checked on the way down, so ``[[[[...`` stops at
    level MAX_DEPTH + 1), and how tall each node is with its aliases (checked on the way
    up, so a chain of anchors, each a list of the previous one, is caught too)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._heights: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(problem="", problem_mark=self.peek_event().start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        height = 1 + max((self._heights.get(id(c), 0) for c in children), default=0)
        self._heights[id(node)] = height
        if height > MAX_DEPTH:
            raise _TooDeep(problem="", problem_mark=node.start_mark)
        return node


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)  # the merged (``<<: *anchor``) pairs now come first
    inherited = len(node.value) - own
    result = LineDict()
    result.line = node.start_mark.line + 1
    written: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if index >= inherited:  # a key written twice is a mistake; one merged in is not
            if key in written:
                raise yaml.MarkedYAMLError(
                    problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
                )
            written.add(key)
        # Later wins: a key written here overrides the same key merged in, as YAML says.
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_text(path: str | Path) -> str:
    """The file as text, refused whole if it is not a small UTF-8 text file."""
    try:
        # stat first: opening a FIFO would block, and /dev/zero never ends.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise FileError(path, None, "", "not a regular file", TEXT)
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise FileError(path, None, "", f"cannot read the file: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise FileError(path, None, "", f"the file is larger than {MAX_BYTES} bytes", TEXT)
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise FileError(path, line, "", "a binary file: it contains a NUL byte", TEXT)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileError(
            path, line, "", f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}",
            TEXT,
        ) from None  # fmt: skip


def load(path: str | Path) -> Any:
    text = read_text(path)
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _TooDeep as exc:
        raise FileError(
            path, exc.problem_mark.line + 1, "",
            f"lists and mappings nest more than {MAX_DEPTH} levels deep",
            f"at most {MAX_DEPTH} levels",
        ) from None  # fmt: skip
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise FileError(path, line, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise FileError(path, None, "", f"not valid YAML: {exc}") from None
    except (ValueError, OverflowError) as exc:  # e.g. a number of more than 4300 digits
        raise FileError(path, None, "", f"a value cannot be read: {exc}") from None
    except RecursionError:  # the bounds above should make this unreachable
        raise FileError(path, None, "", "nested too deeply to read", TEXT) from None
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
        maximum: float | None = None,
        choices: tuple[str, ...] | None = None,
        context: str = "",
    ) -> Any:
        label = f"{context}.{key}" if context else key
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if key in data and data[key] is None and bool in kinds:
            # A switch left empty (``protected:``, ``protected: null``) is a mistake, not a
            # default: for ``protected`` it would quietly mean "unprotected".
            raise self.fail(data, label, "must be true or false, got null", "true or false")
        if key not in data or data[key] is None:
            if required:
                raise self.missing(data, label, "is required")
            return default
        value = data[key]
        # YAML's yes/no/true are bools, and bool is an int in Python: not a number here.
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            accepted = "true or false" if kinds == (bool,) else names
            raise self.fail(data, label, f"must be {names}, got {value!r}", accepted)
        if choices is not None and value not in choices:
            raise self.fail(data, label, f"{value!r} is not valid", ", ".join(choices))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self._number(data, label, value, minimum, maximum)
        return value

    def _number(
        self, data: LineDict, label: str, value: float, low: float | None, high: float | None
    ) -> None:
        """Finite and within bounds: a nan passes every ``<`` test, and an inf or a huge
        whole number only fails later, in a sleep or at the proxy, mid-run."""
        if low is None:
            bounds = f"a number <= {high:g}" if high is not None else "a finite number"
        else:
            bounds = f"a number >= {low:g}" + (f" and <= {high:g}" if high is not None else "")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(data, label, f"must be a finite number, got {value}", bounds)
        if isinstance(value, int) and abs(value) > MAX_INT:
            # bit_length, not str(): a hex literal of any length is a valid int.
            raise self.fail(
                data, label, f"a {value.bit_length()}-bit whole number is too large",
                f"{bounds}, within ±(2**63 - 1)",
            )  # fmt: skip
        if low is not None and value < low:
            raise self.fail(data, label, f"must be >= {low}, got {value}", bounds)
        if high is not None and value > high:
            raise self.fail(data, label, f"must be at most {high:g}, got {value:g}", bounds)
