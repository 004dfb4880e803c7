"""Guide test 1: Redis stops and comes back; every client reconnects and resubscribes."""

from __future__ import annotations

from chaoslib.experiment.runner import Experiment
from chaoslib.faults import schedule
from chaoslib.scenarios import alerts, common, subscriptions
from chaoslib.scenarios.base import ScenarioRun

STEP = "redis"


def build(run: ScenarioRun) -> Experiment:
    clients = common.redis_clients(run)
    exp = run.experiment("redis-restart", observe_after=run.wait("recover"))
    exp.add(
        STEP, common.stack_fault(run, "redis", "stop"), schedule.once(0, run.wait("redis_down"))
    )
    listening = subscriptions.observer(run, run.workers)
    if listening is not None:
        exp.observers.append(listening)
    exp.checks = [
        common.disconnect_logged(run, STEP, clients),
        common.reconnected(run, STEP, clients),
        common.backoff(run, STEP, clients),
        common.breaker(run, STEP, clients),
        subscriptions.resubscribed(run, STEP, run.workers, coordinator=True),
        common.heartbeats_resume(run, STEP),
        common.no_exits(run),
        common.message_loss(run),
        alerts.alert_delivered(run, "redis_connectivity", STEP, "fault"),
        common.back_to_steady(run),
    ]
    return exp
