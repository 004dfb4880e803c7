"""Checks that several guide tests share: the steady state, reconnects, backoff and jitter,
the breaker, exits, recovery and loss. Each reads its facts through the ScenarioRun."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from chaoslib.experiment.checks import Verdict, failed, judged, unknown, within
from chaoslib.experiment.runner import Check, RunContext
from chaoslib.faults.service import ServiceFault
from chaoslib.observe.history import Event
from chaoslib.scenarios import facts, sources
from chaoslib.scenarios.base import ScenarioRun, check, described


def end_of(ctx: RunContext) -> float:
    return ctx.history.snapshot()[-1].t if len(ctx.history) else 0.0


def line_within(
    ctx: RunContext,
    service: str | None,
    key: str,
    since: float,
    limit: float,
    *,
    missing: str,
    said: Callable[[Event, float], str],
) -> Verdict:
    """Time from ``since`` to the first ``key`` log line of ``service``, against ``limit``."""
    line = facts.first_line(ctx.history, service, key, since)
    if line is None:
        return failed(missing, limit, "s")
    took = round(line.t - since, 3)
    return within(took, limit, said(line, took))


def slowest(name_of: dict[str, float | None], limit: float, what: str, unit: str = "s") -> Verdict:
    missing = sorted(s for s, t in name_of.items() if t is None)
    if not name_of:
        return unknown(f"nothing to measure for {what}", limit, unit)
    if missing:
        return failed(f"{', '.join(missing)}: {what} never happened", limit, unit,
                      details={"per_service": name_of})  # fmt: skip
    worst = max(name_of, key=lambda s: name_of[s] or 0)
    took = round(name_of[worst] or 0, 3)
    return judged(
        took <= limit, took, limit, unit,
        f"slowest: {worst} after {took:g}s; "
        + ", ".join(f"{s} {t:.2f}s" for s, t in sorted(name_of.items()) if t is not None),
        {"per_service": name_of},
    )  # fmt: skip


def reconnected(run: ScenarioRun, step: str, services: list[str]) -> Check:
    """Each service logs a reconnect after the heal (with a reconnect count ≥ 1 where the
    pattern has one), within the limit."""

    def judge(ctx: RunContext) -> Verdict:
        pattern = run.pattern("redis_connected")
        counted = "reconnects" in run.contract.groups("redis_connected")
        healed = ctx.healed_at(step) or 0.0
        times: dict[str, float | None] = {}
        for service in services:
            lines = [
                e
                for e in facts.log_lines(ctx.history, service, "redis_connected", since=healed)
                if not counted or int(facts.group(e, pattern, "reconnects") or 0) >= 1
            ]
            times[service] = lines[0].t - healed if lines else None
        return slowest(times, run.limit("reconnect"), "a reconnect after Redis came back")

    return check("reconnect", f"All services reconnect within {run.limit('reconnect'):g}s", judge)


def disconnect_logged(run: ScenarioRun, step: str, services: list[str]) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        run.pattern("redis_disconnected")
        at = ctx.applied_at(step) or 0.0
        missing = [
            s for s in services if not facts.log_lines(ctx.history, s, "redis_disconnected", at)
        ]
        n = len(services) - len(missing)
        return judged(not missing, n, len(services), "services",
                      f"missing: {', '.join(missing)}" if missing else f"all {n} services logged it")  # fmt: skip

    return check("disconnect_logged", "All services log that Redis disconnected", judge)


def delays_ms(run: ScenarioRun, ctx: RunContext, service: str, since: float) -> list[Delay]:
    """The retry delays a service logged, in ms, read from the pattern's named group
    (``delay_ms``, or ``delay_s``; a pattern may hold both, as alternatives)."""
    pattern = run.pattern("redis_retry", "delay_ms", "delay_s")
    out = []
    for e in facts.log_lines(ctx.history, service, "redis_retry", since):
        ms, s = facts.group(e, pattern, "delay_ms"), facts.group(e, pattern, "delay_s")
        if ms is not None:
            out.append(Delay.read(ms, 1.0))
        elif s is not None:
            out.append(Delay.read(s, 1000.0))
    return out


@dataclass(frozen=True)
class Delay:
    """A logged delay in ms, and how far the log's rounding may have moved it."""

    ms: float
    rounding_ms: float

    @classmethod
    def read(cls, text: str, scale: float) -> Delay:
        # The printed digits tell the log's resolution: "107ms" is ±0.5 ms, "107.3ms" ±0.05.
        decimals = len(text.partition(".")[2])
        return cls(float(text) * scale, 0.5 * 10**-decimals * scale)


def fitted(delays: list[float]) -> list[float]:
    """The best-fitting a·2^k (least squares on log2): exact powers of two sit on it,
    whichever retry the system counts as the first (a fits it)."""
    base = statistics.fmean(math.log2(d) - k for k, d in enumerate(delays))
    return [2 ** (base + k) for k in range(len(delays))]


def jitter_spread(delays: list[float]) -> float:
    """The largest relative distance of a delay from the fitted a·2^k."""
    return max(abs(d / f - 1) for d, f in zip(delays, fitted(delays), strict=True))


def jitter_seen(delays: list[Delay]) -> bool:
    """Whether a delay sits off the fitted curve by more than rounding can explain: its
    own rounding, plus what the others' rounding can move the fit by at that point (a is
    a geometric mean, so it is off by at most the largest relative rounding)."""
    curve = fitted([d.ms for d in delays])
    moved = max(d.rounding_ms / d.ms for d in delays)
    return any(
        abs(d.ms - f) > SLACK * (d.rounding_ms + f * moved)
        for d, f in zip(delays, curve, strict=True)
    )


SLACK = 1.05  # the bound is first-order; this covers the rest, and no more


def backoff(run: ScenarioRun, step: str, services: list[str]) -> Check:
    """Delays grow ×2 per failure below the cap, and spread around the fitted a·2^k (jitter)."""

    def judge(ctx: RunContext) -> Verdict:
        cap = run.setting("reconnect_max_delay") * 1000
        declared = run.setting_or("reconnect_jitter", 0.0)
        at = ctx.applied_at(step) or 0.0
        growths, spreads, shown = [], [], []
        for service in services:
            delays = delays_ms(run, ctx, service, at)
            below = [d for d in delays if 0 < d.ms < cap * (1 - declared)]
            if delays:
                shown.append(f"{service}: " + "→".join(f"{d.ms:.0f}" for d in delays[:6]) + " ms")
            if len(below) >= 3:
                ms = [d.ms for d in below]
                growth = statistics.median(b / a for a, b in zip(ms, ms[1:], strict=False))
                spread = jitter_spread(ms)
                growths.append(growth)
                spreads.append(spread if jitter_seen(below) else 0.0)
        if not growths:
            if not shown:
                return failed("no retry delays logged", 2.0, "×")
            return unknown("fewer than three delays below the cap: " + "; ".join(shown), 2.0, "×")
        growth, spread = round(statistics.median(growths), 2), max(spreads)
        jittered = spread > 0
        evidence = "; ".join(shown) + (
            f"; spread around the fitted curve ±{spread * 100:.1f}%"
            if jittered
            else "; no jitter seen: every delay sits on the exponential curve"
            + (" (the profile's reconnect_jitter is 0)" if declared == 0 else "")
        )
        return judged(1.5 <= growth <= 2.5 and jittered, growth, 2.0, "×", evidence,
                      {"spread": round(spread, 4)})  # fmt: skip

    return check("backoff", "Exponential backoff with jitter visible: 1s → 2s → 4s → 8s...", judge)


def breaker(run: ScenarioRun, step: str, services: list[str]) -> Check:
    limit = run.setting_or("reconnect_max_failures", 0)

    def judge(ctx: RunContext) -> Verdict:
        most_allowed = int(run.setting("reconnect_max_failures"))
        opened_pattern = run.pattern("circuit_open", "failures")
        retry_pattern = run.pattern("redis_retry", "attempt")
        at = ctx.applied_at(step) or 0.0
        opened, early, missed, most = [], [], [], 0
        for service in services:
            attempts = [
                int(facts.group(e, retry_pattern, "attempt") or 0)
                for e in facts.log_lines(ctx.history, service, "redis_retry", at)
            ]
            most = max([most, *attempts])
            lines = facts.log_lines(ctx.history, service, "circuit_open", at)
            if lines:
                after = int(facts.group(lines[0], opened_pattern, "failures") or 0)
                (opened if after == most_allowed else early).append(f"{service} after {after}")
            elif attempts and max(attempts) >= most_allowed:
                missed.append(service)
        if early or missed:
            return failed(
                "; ".join([*(f"opened at the wrong count: {e}" for e in early),
                           *(f"{m} failed {most_allowed}+ times and never opened it" for m in missed)]),
                most_allowed, "failures",
            )  # fmt: skip
        if not opened:
            return unknown(
                f"no service reached {most_allowed} consecutive failures (most: {most}); "
                "the outage was too short to exercise the breaker",
                most_allowed, "failures", most,
            )  # fmt: skip
        return judged(True, most_allowed, most_allowed, "failures", "opened: " + ", ".join(opened))

    return check("breaker", f"Circuit breaker opens after {limit:g} consecutive failures", judge)


def no_exits(run: ScenarioRun, targeted: tuple[str, ...] = ()) -> Check:
    """No process the scenario did not stop went down, and none logged a crash."""

    def judge(ctx: RunContext) -> Verdict:
        start, end = ctx.started, end_of(ctx)
        down = [
            s
            for s in run.services
            if s not in targeted and facts.downtime(ctx.history, s, start, end)
        ]
        crashes = facts.log_lines(ctx.history, None, "crash", start)
        bad = len(down) + len(crashes)
        evidence = (
            (f"went down: {', '.join(down)}; " if down else "")
            + (f"crash lines: {crashes[0].detail[:120]}" if crashes else "")
        ) or f"all {len(run.services) - len(targeted)} untouched services stayed up"
        return judged(not bad, bad, 0, "exits", evidence)

    return check("no_exits", "No service crashes or exits", judge)


def back_to_steady(run: ScenarioRun) -> Check:
    """Recovery is automatic: from the last heal to every item on exactly one healthy worker."""

    def judge(ctx: RunContext) -> Verdict:
        healed = ctx.last_heal
        found = run.beats(ctx.history)
        first = min((f.t for f in ctx.faults), default=healed)
        expected = run.expected_items(ctx.history, first)
        at = facts.steady_at(found, run.contract.heartbeat, healed, expected, run.fresh())
        limit = run.limit("recover")
        if at is None:
            held = facts.items_at(found, end_of(ctx), run.fresh())
            return failed(
                f"never back to all {described(expected)} items on exactly one healthy worker "
                f"in the {end_of(ctx) - healed:.1f}s observed after the heal; last seen: "
                + (", ".join(f"{w}: {len(i)} items" for w, i in sorted(held.items())) or "nothing"),
                limit, "s",
            )  # fmt: skip
        took = round(max(0.0, at - healed), 3)
        # Reached once is not enough: it must hold to the end of the observation.
        broken = facts.broken_after(found, run.contract.heartbeat, at, expected, run.fresh())
        if broken is not None:
            return failed(
                f"back to steady {took:g}s after the heal, but {broken[0] - at:.2f}s later "
                f"{broken[1]}", limit, "s", took,
            )  # fmt: skip
        return within(took, limit, f"every item on exactly one healthy worker {took:g}s after "
                      f"the heal, and still so {end_of(ctx) - at:.1f}s later")  # fmt: skip

    return check("recovered", "System returns to normal operation without intervention", judge)


def message_loss(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        signals = run.contract.signals
        if not signals.stream:
            return unknown(
                "the profile declares no signal stream (contract.signals)", 0, "messages"
            )
        run.metric(signals.sent_metric)
        ledger = sources.signal_ledger(run.system.direct["redis"], signals, run.beats(ctx.history))
        if not ledger.sent:
            return unknown("no signal was acknowledged", 0, "messages")
        bad = len(ledger.lost) + len(ledger.duplicated) + sum(ledger.consumer_behind.values())
        return judged(not bad, bad, 0, "messages", ledger.evidence(),
                      {"sent": ledger.sent, "lost": len(ledger.lost),
                       "duplicated": len(ledger.duplicated)})  # fmt: skip

    return check("message_loss", "Zero message loss (signal stream, from the source)", judge)


def redis_clients(run: ScenarioRun) -> list[str]:
    """The services that reach Redis (through a link of their own)."""
    return [s.name for s in run.system.profile.services.values() if s.redis]


def stack_fault(run: ScenarioRun, server: str, action: str) -> ServiceFault:
    """Stop or kill the stack's ``redis`` or ``postgres`` server."""
    return ServiceFault(run.system.stack_service(server), action, ledger=run.system.ledger)


def settle(run: ScenarioRun) -> float:
    """How long to keep observing after a heal for every worker to heartbeat afresh."""
    return max(1.0, run.fresh() + run.setting_or("heartbeat_interval", 0.0))


def heartbeats_resume(run: ScenarioRun, step: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        healed = ctx.healed_at(step) or 0.0
        times: dict[str, float | None] = {}
        for worker in run.workers:
            found = run.beats(ctx.history, worker, since=healed)
            times[worker] = found[0].t - healed if found else None
        return slowest(times, run.limit("reconnect"), "a heartbeat after the heal")

    return check("heartbeats_resume", "Heartbeats resume after reconnection", judge)
