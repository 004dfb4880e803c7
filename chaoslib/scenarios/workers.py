"""What guide tests 2, 3, 5 and 6 share about workers: what the victim held, and the
coordinator's "worker dead" line for a given worker."""

from __future__ import annotations

from chaoslib.experiment.runner import RunContext
from chaoslib.scenarios import facts
from chaoslib.scenarios.base import ScenarioRun


def held_before(run: ScenarioRun, ctx: RunContext, step: str, worker: str) -> frozenset[str]:
    """The items ``worker`` reported just before ``step`` was applied."""
    at = ctx.applied_at(step) or 0.0
    return facts.items_at(run.beats(ctx.history, until=at), at - 1e-3, run.fresh()).get(
        worker, frozenset()
    )


def dead_at(run: ScenarioRun, ctx: RunContext, worker: str, since: float) -> float | None:
    """When the coordinator logged ``worker`` as dead (its pattern's ``worker`` group)."""
    pattern = run.pattern("worker_dead", "worker")
    for line in facts.log_lines(ctx.history, run.coordinator, "worker_dead", since):
        if facts.group(line, pattern, "worker") == worker:
            return line.t
    return None
