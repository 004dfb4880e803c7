"""A profile's services: how each one starts (a Python module, or any program), in which
directory, with which environment, and when it counts as ready.

Everything that can be checked when the profile loads is checked then, at the file and
line it was written; what depends on variables (``${VAR}``) is checked by :func:`launch`,
just before the process starts.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaoslib.errors import ConfigError
from chaoslib.profiles.modules import CHECKOUT, runnable
from chaoslib.services.readiness import DEFAULT_TIMEOUT, MAX_TIMEOUT, ReadyDef, address
from chaoslib.yaml_lines import LineDict, Reader

BACKENDS = ("process", "docker")
KEYS = {"module", "command", "cwd", "backend", "container", "env", "ready", "redis", "database", "settings_env"}  # fmt: skip
# ${NAME}, ${NAME:-default}, $$; a "$NAME" or a "${" of another form is a mistake, not text.
_VAR = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bad>\{|[A-Za-z_]))"
)
VAR_FORMS = "${NAME}, ${NAME:-default}, or $$ for a literal $"


@dataclass(frozen=True)
class ServiceDef:
    name: str
    module: str = ""  # process backend: run as ``python -m module`` in the checkout
    # process: a local process, its log is its stdout and stderr;
    # docker: the compose service of this name, its log is the container's log.
    backend: str = "process"
    env: dict[str, str] = field(default_factory=dict)  # as written: ${VAR} expands at launch
    ready: ReadyDef | None = None
    container: str | None = None  # docker: find it by this container name, not by compose label
    redis: str | None = None  # the link this service uses to reach Redis
    database: str | None = None
    command: tuple[str, ...] = ()  # process backend: any program, as written (${VAR} unexpanded)
    cwd: str = ""  # as written; empty: base_dir
    base_dir: str = ""  # a relative program path and cwd resolve here: the profile's directory
    source: str = ""  # file:line of the service, for errors found at launch
    # env var -> (setting, unit): this service's own names, on top of the profile's
    settings_env: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Launch:
    """What to run for a process service, every variable expanded."""

    argv: tuple[str, ...]
    cwd: str
    env: dict[str, str]  # the service's own env (the profile's ``env:``), expanded


def base_dir(written_in: str) -> str:
    """The directory of the file that wrote a section, or the checkout for the built-in
    profiles (the files they name are the checkout's)."""
    here = Path(written_in).resolve().parent
    builtin = Path(__file__).resolve().parent  # this package holds the built-in files
    return str(builtin.parent.parent if here == builtin else here)


def expand(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with ``${NAME}`` and ``${NAME:-default}`` replaced and ``$$`` made ``$``.
    A KeyError names a variable that is undefined and has no default; a ValueError is a
    ``$`` form that is not one of those (check_syntax finds it at load)."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group("bad") is not None:
            raise ValueError(_not_a_form(text, m.start()))
        name, default = m.group("name"), m.group("default")
        if name in variables:
            return variables[name]
        if default is not None:  # taken literally: defaults do not nest
            return default
        raise KeyError(name)

    return _VAR.sub(one, text)


def check_syntax(text: str) -> str | None:
    """The problem with ``text``'s ``$`` forms, or None."""
    bad = next((m for m in _VAR.finditer(text) if m.group("bad") is not None), None)
    return None if bad is None else _not_a_form(text, bad.start())


def _not_a_form(text: str, at: int) -> str:
    return f"{text[at : at + 24]!r} is not a variable form chaoslib expands"


def find_program(program: str, where: str, path: str) -> tuple[str | None, str]:
    """The executable ``program`` names, or None and what was looked for. A name with a
    ``/`` is a path (relative to ``where``); a bare name is looked up on ``path``."""
    if "/" not in program:
        found = shutil.which(program, path=path)
        return found, f"{program!r} on PATH ({path or 'empty'})"
    full = Path(program) if Path(program).is_absolute() else Path(where) / program
    if not full.exists():
        return None, f"{str(full)!r}, which does not exist"
    if not full.is_file() or not os.access(full, os.X_OK):
        return None, f"{str(full)!r}, which is not an executable file"
    return str(full), str(full)


def launch(svc: ServiceDef, variables: Mapping[str, str]) -> Launch:
    """The argv, working directory and env of process service ``svc``, with ``${VAR}``
    taken from ``variables`` (the caller's environment plus chaoslib's values)."""
    if svc.backend != "process":
        raise ConfigError(f"service {svc.name} runs under {svc.backend}; only a process service")

    def fill(key: str, text: str) -> str:
        try:
            return expand(text, variables)
        except KeyError as exc:
            var = exc.args[0]
            raise ConfigError(
                f"{_where(svc)}services.{svc.name}.{key}: variable {var} is not defined "
                f"(write ${{{var}:-default}} for a default, or set {var} where chaoslib runs)"
            ) from None
        except ValueError as exc:
            raise ConfigError(f"{_where(svc)}services.{svc.name}.{key}: {exc}") from None

    env = {k: fill(f"env.{k}", v) for k, v in svc.env.items()}
    if svc.module:
        return Launch((sys.executable, "-m", svc.module), str(CHECKOUT), env)
    if not svc.command:
        raise ConfigError(f"{_where(svc)}services.{svc.name}: has neither module nor command")
    argv = [fill(f"command[{i}]", arg) for i, arg in enumerate(svc.command)]
    cwd = Path(svc.base_dir) / fill("cwd", svc.cwd) if svc.cwd else Path(svc.base_dir)
    if not cwd.is_dir():
        raise ConfigError(f"{_where(svc)}services.{svc.name}.cwd: {str(cwd)!r} is not a directory")
    path = env.get("PATH", variables.get("PATH", os.defpath))
    program, looked = find_program(argv[0], svc.base_dir, path)
    if program is None:
        raise ConfigError(
            f"{_where(svc)}services.{svc.name}.command: program not found: looked for {looked}"
        )
    return Launch((program, *argv[1:]), str(cwd), env)


def _where(svc: ServiceDef) -> str:
    return f"{svc.source}: " if svc.source else ""


def parse_services(r: Reader, doc: LineDict) -> dict[str, ServiceDef]:
    raw = r.mapping(doc.get("services"), "services", doc) if "services" in doc else None
    if not raw:
        raise r.missing(doc, "services", "is required: at least one service")
    return {str(name): _service(r, raw, str(name)) for name in raw}


def _service(r: Reader, raw: LineDict, name: str) -> ServiceDef:
    ctx = f"services.{name}"
    item = r.mapping(raw[name], ctx, raw)
    r.only(item, KEYS, ctx)
    backend = r.get(item, "backend", str, default="process", choices=BACKENDS, context=ctx)
    env = r.scalars(item, "env", ctx)
    for key, value in env.items():
        if problem := check_syntax(value):
            raise r.fail(item["env"], f"{ctx}.env.{key}", problem, VAR_FORMS)
    here = base_dir(item.path or str(r.path))
    module, command, cwd = _how_it_runs(r, item, name, backend, env, here)
    return ServiceDef(
        name=name,
        module=module,
        backend=backend,
        env=env,
        ready=_ready(r, item, ctx),
        container=r.get(item, "container", str, context=ctx),
        redis=r.get(item, "redis", str, context=ctx),
        database=r.get(item, "database", str, context=ctx),
        command=command,
        cwd=cwd,
        base_dir=here,
        source=f"{raw.file_of(name) or r.path}:{raw.line_of(name)}",
    )


def _how_it_runs(
    r: Reader, item: LineDict, name: str, backend: str, env: dict[str, str], here: str
) -> tuple[str, tuple[str, ...], str]:
    """``module``, or ``command`` (and ``cwd``), validated for a process service."""
    ctx = f"services.{name}"
    if backend != "process":
        for key in ("command", "cwd"):
            if key in item:
                raise r.fail(item, f"{ctx}.{key}", f"a {backend} service runs as its compose "
                             "file says", "command and cwd only with backend: process")  # fmt: skip
        return r.get(item, "module", str, default="", context=ctx), (), ""
    if "module" in item and "command" in item:
        raise r.fail(item, f"{ctx}.command", "module and command are both given",
                     "one of them: module (python -m MODULE) or command (any program)")  # fmt: skip
    if "module" in item:
        if "cwd" in item:
            raise r.fail(item, f"{ctx}.cwd", "a module service runs in the checkout, "
                         f"{CHECKOUT}", "cwd with command: [python, -m, MODULE] instead")  # fmt: skip
        module = r.get(item, "module", str, context=ctx)
        if module is None or not runnable(module):
            raise r.fail(
                item, f"{ctx}.module",
                f"service {name} names module {module!r}, which python -m cannot "
                f"find: it runs in {CHECKOUT} and sees that, PYTHONPATH and site-packages",
                "a dotted module name that exists, e.g. chaoslib.examples.arbees.shard; "
                "for a script or any other program, command: [program, args...]",
            )  # fmt: skip
        return module, (), ""
    if "command" not in item:
        raise r.missing(item, f"{ctx}.module", "is required: module (a Python module run "
                        "with python -m) or command (any program)")  # fmt: skip
    command = _command(r, item, ctx)
    cwd = r.get(item, "cwd", str, default="", context=ctx)
    for key, text in (("cwd", cwd), *((f"command[{i}]", a) for i, a in enumerate(command))):
        if problem := check_syntax(text):
            raise r.fail(item, f"{ctx}.{key.split('[')[0]}", f"{key}: {problem}", VAR_FORMS)
    if cwd and "${" not in cwd and not (Path(here) / cwd).is_dir():
        raise r.fail(item, f"{ctx}.cwd", f"{str(Path(here) / cwd)!r} is not a directory",
                     "a directory, relative to the profile file's")  # fmt: skip
    if "${" not in command[0]:
        path = env.get("PATH", os.environ.get("PATH", os.defpath))
        if "${" in path:
            path = os.environ.get("PATH", os.defpath)
        found, looked = find_program(command[0], here, path)
        if found is None:
            raise r.fail(item, f"{ctx}.command", f"program not found: looked for {looked}",
                         "a program on PATH, or a path to an executable file (relative to "
                         "the profile file's directory)")  # fmt: skip
    return "", command, cwd


def _command(r: Reader, item: LineDict, ctx: str) -> tuple[str, ...]:
    value = item["command"]
    accepted = "a list of strings (argv), or one string split as a POSIX shell would"
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:  # an unclosed quote
            raise r.fail(item, f"{ctx}.command", f"cannot be split: {exc}", accepted) from None
    elif isinstance(value, list):
        wrong = [a for a in value if isinstance(a, bool) or not isinstance(a, (str, int))]
        if wrong:
            raise r.fail(item, f"{ctx}.command", f"{wrong[0]!r} is not a string: quote it",
                         accepted)  # fmt: skip
        argv = [str(a) for a in value]
    else:
        raise r.fail(item, f"{ctx}.command", f"must be a list or a string, got {value!r}", accepted)
    if not argv or not argv[0]:
        raise r.fail(item, f"{ctx}.command", "names no program", accepted)
    return tuple(argv)


def _ready(r: Reader, item: LineDict, ctx: str) -> ReadyDef | None:
    """``ready:`` as a log regex, ``none``, or ``{log|tcp|heartbeat: ..., timeout: s}``."""
    key = f"{ctx}.ready"
    accepted = (
        "a log regex, none, or a mapping of one of log: REGEX, tcp: PORT or 'host:port', "
        f"heartbeat: true, with an optional timeout (seconds, > 0, <= {MAX_TIMEOUT:g})"
    )
    value = item.get("ready")
    if value is None:
        return None
    if isinstance(value, str):
        if value == "none":
            return ReadyDef("none")
        return ReadyDef("log", pattern=_regex(r, item, key, value))
    if not isinstance(value, LineDict):
        raise r.fail(item, key, f"must be a string or a mapping, got {value!r}", accepted)
    r.only(value, {"log", "tcp", "heartbeat", "timeout"}, key)
    kinds = [k for k in ("log", "tcp", "heartbeat") if k in value]
    if len(kinds) != 1:
        raise r.fail(item, key, f"names {len(kinds)} kinds of readiness", accepted)
    kind = kinds[0]
    timeout = r.get(value, "timeout", (int, float), default=DEFAULT_TIMEOUT,
                    maximum=MAX_TIMEOUT, context=key)  # fmt: skip
    if timeout <= 0:
        raise r.fail(value, f"{key}.timeout", f"must be more than 0, got {timeout}", accepted)
    if kind == "log":
        pattern = r.get(value, "log", str, required=True, context=key)
        return ReadyDef("log", pattern=_regex(r, value, f"{key}.log", pattern), timeout=timeout)
    if kind == "heartbeat":
        if not r.get(value, "heartbeat", bool, context=key):
            raise r.fail(
                value, f"{key}.heartbeat", "false waits for nothing", "true, or ready: none"
            )
        return ReadyDef("heartbeat", timeout=timeout)
    try:
        host, port = address(value["tcp"])
    except ValueError as exc:
        raise r.fail(value, f"{key}.tcp", str(exc), accepted) from None
    return ReadyDef("tcp", host=host, port=port, timeout=timeout)


def _regex(r: Reader, where: LineDict, key: str, pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise r.fail(where, key, f"is not a valid regex: {exc}") from None
    return pattern
