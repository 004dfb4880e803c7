"""Guide tests 1, 7 and 8, "All subscriptions re-established", read from the source.

Heartbeats alone do not show it: a worker that lost its command subscription still
heartbeats, and ignores every later command. Redis itself says who listens:
``PUBSUB NUMSUB`` on each worker's command channel, and the clients that hold a
pattern subscription (the coordinator's heartbeat pattern), chaoslib's own observer
excepted. Sampled throughout, so the time each came back is measured.
"""

from __future__ import annotations

from typing import Any

from chaoslib.experiment.checks import Verdict, failed, unknown, within
from chaoslib.experiment.runner import Check, RunContext
from chaoslib.observe.base import Observer
from chaoslib.observe.channel import OBSERVER_NAME
from chaoslib.scenarios import sources
from chaoslib.scenarios.base import ScenarioRun, check

SOURCE = "subscribers"


class Subscribers(Observer):
    """Every ``interval`` s: subscribers per command channel, and pattern subscribers."""

    kind = "subscribers"

    def __init__(self, url: str, channels: dict[str, str], *, interval: float = 0.1, **kw: Any):
        super().__init__(SOURCE, **kw)
        self.url, self.channels, self.interval = url, channels, interval

    def run(self) -> None:
        while not self.stopping:
            try:
                counts = sources.subscribers(self.url, list(self.channels.values()))
                by_worker = {w: counts.get(ch, 0) for w, ch in self.channels.items()}
                patterns = sources.pattern_subscribers(self.url, OBSERVER_NAME)
                self.record(True, {"workers": by_worker, "patterns": patterns})
            except Exception as exc:  # Redis itself is down: nobody can be counted
                self.record(False, detail=f"{type(exc).__name__}: {exc}")
            self.clock.sleep(self.interval, self._stop)


def observer(run: ScenarioRun, workers: list[str]) -> Subscribers | None:
    channel = run.contract.commands.channel
    if not channel:
        return None
    return Subscribers(run.system.direct["redis"], {w: channel.format(worker=w) for w in workers})


def resubscribed(run: ScenarioRun, step: str, workers: list[str], coordinator: bool) -> Check:
    """Every worker's command channel (and, with ``coordinator``, a pattern subscriber
    for the heartbeats) is listened to again within the reconnect limit of the heal."""
    limit = run.limit("reconnect")

    def judge(ctx: RunContext) -> Verdict:
        if not run.contract.commands.channel and workers:
            return unknown("the profile declares no command channel (contract.commands.channel)",
                           limit, "s")  # fmt: skip
        healed = ctx.healed_at(step) or 0.0
        samples = [e for e in ctx.history.select(source=SOURCE, since=healed) if e.ok]
        if not samples:
            return unknown("Redis never answered PUBSUB NUMSUB after the heal", limit, "s")

        def whole(value: dict[str, Any]) -> bool:
            listened = all(value["workers"].get(w, 0) >= 1 for w in workers)
            return listened and (not coordinator or value["patterns"] >= 1)

        back = next((e for e in samples if whole(e.value)), None)
        last = samples[-1].value
        shown = ", ".join(f"{w}: {n}" for w, n in sorted(last["workers"].items()))
        if coordinator:
            shown += f"; pattern subscribers besides chaoslib: {last['patterns']}"
        if back is None:
            deaf = [w for w in workers if last["workers"].get(w, 0) < 1]
            return failed(
                f"not listening {samples[-1].t - healed:.1f}s after the heal: "
                + ", ".join(deaf + (["the coordinator's heartbeat pattern"]
                                    if coordinator and last["patterns"] < 1 else []))
                + f" (subscribers now: {shown})",
                limit, "s",
            )  # fmt: skip
        took = back.t - healed
        return within(took, limit, f"every subscription back {took:.2f}s after the heal ({shown})")

    return check(
        "subscriptions", "All subscriptions re-established after reconnect (PUBSUB)", judge
    )
