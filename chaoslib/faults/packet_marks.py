"""What in a container's namespace is chaoslib's, and removing that and nothing else.

chaoslib marks what it adds so that a different process (``invoke chaos.reset``,
after a SIGKILL) can tell it from what the user set up:

* its tbf root qdisc always has the handle :data:`HANDLE` (``tc`` never picks it:
  the kernel allocates handles from ``8000:`` up);
* its iptables rules live in its own chain :data:`CHAIN`, and the INPUT/OUTPUT
  jumps to it carry the comment :data:`COMMENT`.

A root qdisc is removed only when it has the recorded handle and kind
(``tc qdisc del … root handle H``: the kernel itself refuses a different one).
Anything else is left alone and named. Before a fault replaces the root qdisc,
:func:`ensure_replaceable` refuses unless the interface has only the kernel's
defaults on it, or chaoslib's own qdisc.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaoslib.errors import ConfigError
from chaoslib.faults.netns import describe_qdisc, egress_qdiscs, netns, root_qdisc, rules

HANDLE = "c4a0:"
CHAIN = "CHAOSLIB"
COMMENT = "chaoslib"
# The kernel attaches its default qdiscs (noqueue on a veth, pfifo_fast, fq_codel,
# mq and its children, or whatever net.core.default_qdisc says) with handle 0:, and
# never gives that handle to one added with ``tc`` (``handle 0:`` becomes 8001:, ...).
KERNEL_HANDLE = "0:"
# A jump chaoslib adds, and the unmarked form older versions added (still its own chain).
JUMPS = (("-m", "comment", "--comment", COMMENT, "-j", CHAIN), ("-j", CHAIN))


class ForeignQdiscError(ConfigError):
    """The interface has a qdisc chaoslib did not add; a fault would have replaced it."""


@dataclass(frozen=True)
class Cleared:
    """What :func:`clear` removed, and what it found that was not chaoslib's and left."""

    removed: tuple[str, ...] = ()
    left_alone: tuple[str, ...] = ()

    def summary(self, container: str) -> str:
        line = f"removed from {container}: {', '.join(self.removed) or 'nothing left'}"
        return "; ".join([line, *(f"left alone: {note}" for note in self.left_alone)])


def is_kernel_default(qdisc: dict) -> bool:
    return qdisc.get("handle") == KERNEL_HANDLE


def ensure_replaceable(pid: int, interface: str, where: str) -> None:
    """Refuse (ForeignQdiscError) unless a new root qdisc would replace only the kernel's
    default or chaoslib's own: the user's shaping is never replaced."""
    for qdisc in egress_qdiscs(pid, interface):
        ours = qdisc.get("root") and qdisc.get("handle") == HANDLE
        if not ours and not is_kernel_default(qdisc):
            place = "root qdisc" if qdisc.get("root") else f"qdisc under {qdisc.get('parent')}"
            raise ForeignQdiscError(
                f"{where} has a {place} chaoslib did not add ({describe_qdisc(qdisc)}); "
                "chaoslib will not replace a qdisc it did not add. Accepted: the kernel's "
                f"default qdisc (handle {KERNEL_HANDLE}) or chaoslib's own (handle {HANDLE})"
            )


def _clear_qdisc(pid: int, interface: str, kind: str, handle: str) -> Cleared:
    root = root_qdisc(pid, interface)
    if is_kernel_default(root) or root["kind"] == "none":
        return Cleared()
    if handle and root.get("handle") == handle and root["kind"] == kind:
        # The kernel checks the handle too: a qdisc swapped in since the read stays.
        done = netns(pid, "tc", "qdisc", "del", "dev", interface, "root", "handle", handle,
                     check=False)  # fmt: skip
        if done.returncode == 0:
            return Cleared(removed=(f"{kind} qdisc {handle} on {interface}",))
    return Cleared(left_alone=(f"{describe_qdisc(root)} root qdisc on {interface}: "
                               "not chaoslib's",))  # fmt: skip


def _clear_chain(pid: int) -> list[str]:
    done = []
    for hook in ("INPUT", "OUTPUT"):
        for jump in JUMPS:
            while netns(pid, "iptables", "-D", hook, *jump, check=False).returncode == 0:
                done.append(f"iptables {hook} jump")
    if netns(pid, "iptables", "-F", CHAIN, check=False).returncode == 0:
        netns(pid, "iptables", "-X", CHAIN, check=False)
        done.append(f"iptables chain {CHAIN}")
    return done


def clear(
    pid: int,
    interface: str = "eth0",
    kinds: tuple[str, ...] = ("rate", "loss"),
    *,
    qdisc: str = "tbf",
    handle: str = HANDLE,
) -> Cleared:
    """Remove chaoslib's root qdisc (``rate``: of kind ``qdisc`` with ``handle``) and its
    iptables chain (``loss``). A root qdisc that is not that one is left, and named."""
    cleared = _clear_qdisc(pid, interface, qdisc, handle) if "rate" in kinds else Cleared()
    if "loss" in kinds:
        cleared = Cleared((*cleared.removed, *_clear_chain(pid)), cleared.left_alone)
    return cleared


def leftovers(
    pid: int,
    interface: str,
    kinds: tuple[str, ...] = ("rate", "loss"),
    *,
    qdisc: str = "tbf",
    handle: str = HANDLE,
) -> list[str]:
    """What of chaoslib's is still in the namespace: its root qdisc (kind ``rate``), its
    chain and the jumps to it (kind ``loss``). The user's qdiscs are not leftovers."""
    found = []
    root = root_qdisc(pid, interface)
    if "rate" in kinds and handle and root.get("handle") == handle and root["kind"] == qdisc:
        found.append(f"{qdisc} qdisc on {interface}")
    if "loss" not in kinds:
        return found
    if rules(pid, CHAIN) is not None:
        found.append(f"iptables chain {CHAIN}")
    for hook in ("INPUT", "OUTPUT"):
        if any(line.endswith(f"-j {CHAIN}") for line in rules(pid, hook) or []):
            found.append(f"iptables {hook} jump to {CHAIN}")
    return found
