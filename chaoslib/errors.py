"""The one exception hierarchy of chaoslib.

Every error a user can see derives from :class:`ChaosError`. Subclasses carry
what a caller needs to act on them (a log tail, an HTTP status), so messages
are built once, here, and never by string concatenation at the call site.
"""

from __future__ import annotations


class ChaosError(Exception):
    """Base class of every chaoslib error."""


class ConfigError(ChaosError):
    """Bad input: a flag, a file or a setting that cannot be used as given."""


class ProtectedError(ConfigError):
    """The target environment is marked ``protected: true`` and no one said ``--force``."""

    def __init__(self, profile: str, source: str) -> None:
        self.profile = profile
        super().__init__(
            f"refusing to inject faults: profile {profile!r} is marked protected: true "
            f"({source}), which says real users or real money depend on it. If this run is "
            "intended (a planned game day), repeat it with --force (force=True from Python)."
        )


class BinaryNotFoundError(ChaosError):
    """A server binary could not be found anywhere chaoslib looks."""

    def __init__(self, program: str, tried: list[str], fix: str) -> None:
        self.program = program
        self.tried = tuple(tried)
        self.fix = fix
        lines = [f"{program} was not found. Looked in:"]
        lines += [f"  - {place}" for place in tried]
        lines.append(f"Fix: {fix}")
        super().__init__("\n".join(lines))


class PortInUseError(ChaosError):
    """A port that a service must bind is already taken."""

    def __init__(self, service: str, host: str, port: int) -> None:
        self.service, self.host, self.port = service, host, port
        super().__init__(
            f"cannot start {service}: {host}:{port} is already in use. "
            "Stop whatever listens there, or leave the port unset so chaoslib picks a free one."
        )


class ServiceError(ChaosError):
    """A service failed to start, stop or answer; carries the tail of its own log."""

    def __init__(self, message: str, *, log_tail: str = "", log_path: str | None = None) -> None:
        self.log_tail = log_tail
        self.log_path = log_path
        text = message
        if log_path:
            text += f"\nLog file: {log_path}"
        if log_tail.strip():
            text += "\nLast lines of the log:\n" + _indent(log_tail)
        super().__init__(text)


class StackError(ChaosError):
    """The embedded stack's state file is missing, stale or unusable."""


def _indent(text: str) -> str:
    return "\n".join(f"  | {line}" for line in text.rstrip().splitlines())


class MissingFact(ChaosError):
    """A fact about the system under test that its profile does not declare.

    A check that needs it reports *unknown* with this message, never a guess.
    """

    def __init__(self, what: str) -> None:
        super().__init__(f"the profile declares no {what}")
        self.what = what
