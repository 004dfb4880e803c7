"""Checks that several scenarios share: reconnects, backoff, the breaker, exits, recovery, loss, alerts."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable

from chaoslib.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment import Check, RunContext
from chaoslib.observe.history import Event
from chaoslib.scenarios import facts, sources
from chaoslib.scenarios.base import ScenarioRun, check


def fresh(run: ScenarioRun) -> float:
    """How old a heartbeat may be and still describe a shard's current games."""
    return 3 * run.env("HEARTBEAT_INTERVAL_SECS") + 0.5


def total_games(run: ScenarioRun) -> int:
    return int(run.env("GAME_COUNT"))


def within(took: float, limit: float, evidence: str) -> Verdict:
    """A duration against its limit, in seconds: pass if it is no longer."""
    took = round(max(0.0, took), 3)
    return Verdict("", PASS if took <= limit else FAIL, took, limit, "s", evidence)


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
        return Verdict("", FAIL, None, limit, "s", missing)
    took = round(line.t - since, 3)
    return within(took, limit, said(line, took))


def steady_state(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        beats = facts.heartbeats(ctx.history)
        if not beats:
            return Verdict("", FAIL, 0, total_games(run), "games", "no heartbeat was heard")
        held = facts.games_at(ctx.history, beats[-1].t, fresh(run))
        flat = [g for gs in held.values() for g in gs]
        ok = len(flat) == len(set(flat)) == total_games(run) and set(held) >= set(run.shards)
        return Verdict(
            "",
            PASS if ok else FAIL,
            len(set(flat)),
            total_games(run),
            "games",
            f"{len(set(flat))} of {total_games(run)} games on {len(held)} shard(s), "
            f"{len(flat) - len(set(flat))} on two shards",
        )

    return check("steady", "every game is on exactly one shard before the fault", judge)


def slowest(name_of: dict[str, float | None], limit: float, what: str, unit: str = "s") -> Verdict:
    missing = sorted(s for s, t in name_of.items() if t is None)
    if not name_of:
        return Verdict("", UNKNOWN, None, limit, unit, f"nothing to measure for {what}")
    if missing:
        return Verdict(
            "",
            FAIL,
            None,
            limit,
            unit,
            f"{', '.join(missing)}: {what} never happened",
            {"per_service": name_of},
        )
    worst = max(name_of, key=lambda s: name_of[s] or 0)
    took = round(name_of[worst] or 0, 3)
    return Verdict(
        "",
        PASS if took <= limit else FAIL,
        took,
        limit,
        unit,
        f"slowest: {worst} after {took:g}s; "
        + ", ".join(f"{s} {t:.2f}s" for s, t in sorted(name_of.items()) if t is not None),
        {"per_service": name_of},
    )


def reconnected(run: ScenarioRun, step: str, services: list[str]) -> Check:
    """Each service logs a reconnect (total reconnects ≥ 1) after the heal, within the limit."""

    def judge(ctx: RunContext) -> Verdict:
        healed = ctx.healed_at(step) or 0.0
        times: dict[str, float | None] = {}
        for service in services:
            lines = [
                e
                for e in facts.log_lines(ctx.history, service, "redis_connected", since=healed)
                if (facts.number(e.detail, r"total reconnects: (\d+)") or 0) >= 1
            ]
            times[service] = lines[0].t - healed if lines else None
        return slowest(times, run.limit("reconnect"), "a reconnect after Redis came back")

    return check(
        "reconnect",
        f"All services reconnect within {run.limit('reconnect'):g}s (log: Successfully connected)",
        judge,
    )


def disconnect_logged(run: ScenarioRun, step: str, services: list[str]) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(step) or 0.0
        missing = [
            s for s in services if not facts.log_lines(ctx.history, s, "redis_disconnected", at)
        ]
        n = len(services) - len(missing)
        return Verdict(
            "",
            FAIL if missing else PASS,
            n,
            len(services),
            "services",
            f"missing: {', '.join(missing)}" if missing else f"all {n} services logged it",
        )

    return check(
        "disconnect_logged", 'All services log "Redis disconnected, reconnecting..."', judge
    )


def _delays(run: ScenarioRun, ctx: RunContext, service: str, since: float) -> list[float]:
    """Retry delays in ms, logged as ``Retrying in 400ms`` or ``Retrying in 2.031s``."""
    out = []
    for e in facts.log_lines(ctx.history, service, "redis_retry", since):
        match = re.search(r"Retrying in ([\d.]+)(ms|s)\b", e.detail)
        if match:
            out.append(float(match.group(1)) * (1 if match.group(2) == "ms" else 1000))
    return out


def backoff(run: ScenarioRun, step: str, services: list[str]) -> Check:
    """Delays grow ×2 per failure (below the cap) and carry jitter (not exact powers of two)."""
    base, cap = run.env("REDIS_RECONNECT_BASE_DELAY_MS"), run.env("REDIS_RECONNECT_MAX_DELAY_MS")
    jitter = run.env("REDIS_RECONNECT_JITTER_PCT")

    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(step) or 0.0
        ratios, jittered, shown = [], False, []
        for service in services:
            delays = _delays(run, ctx, service, at)
            below = [d for d in delays if d < cap * (1 - jitter)]
            ratios += [b / a for a, b in zip(below, below[1:], strict=False) if a > 0]
            for k, d in enumerate(below):
                jittered |= abs(d - base * 2**k) > 1.5  # more than the log's rounding
            if delays:
                shown.append(f"{service}: " + "→".join(f"{d:.0f}" for d in delays[:6]) + " ms")
        if not ratios:
            return Verdict(
                "",
                FAIL if not shown else UNKNOWN,
                None,
                2.0,
                "×",
                "no retry delays logged" if not shown else "fewer than two delays below the cap",
            )
        growth = round(statistics.median(ratios), 2)
        ok = 1.5 <= growth <= 2.5 and (jittered or jitter == 0)
        return Verdict(
            "",
            PASS if ok else FAIL,
            growth,
            2.0,
            "×",
            "; ".join(shown) + ("" if jittered or jitter == 0 else "; no jitter seen"),
        )

    return check("backoff", "Exponential backoff with jitter visible: 1s → 2s → 4s → 8s...", judge)


def breaker(run: ScenarioRun, step: str, services: list[str]) -> Check:
    limit = int(run.env("REDIS_RECONNECT_MAX_FAILURES"))

    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(step) or 0.0
        opened, early, missed, most = [], [], [], 0
        for service in services:
            attempts = [
                facts.number(e.detail, r"attempt (\d+)") or 0
                for e in facts.log_lines(ctx.history, service, "redis_retry", at)
            ]
            most = max([most, *attempts]) if attempts else most
            lines = facts.log_lines(ctx.history, service, "circuit_open", at)
            if lines:
                after = int(facts.number(lines[0].detail, r"after (\d+) consecutive") or 0)
                (opened if after == limit else early).append(f"{service} after {after}")
            elif attempts and max(attempts) >= limit:
                missed.append(service)
        if early or missed:
            return Verdict(
                "",
                FAIL,
                None,
                limit,
                "failures",
                "; ".join(
                    [
                        *(f"opened at the wrong count: {e}" for e in early),
                        *(f"{m} failed {limit}+ times and never opened it" for m in missed),
                    ]
                ),
            )
        if not opened:
            return Verdict(
                "",
                UNKNOWN,
                most,
                limit,
                "failures",
                f"no service reached {limit} consecutive failures (most: {most}); "
                "the outage was too short to exercise the breaker",
            )
        return Verdict("", PASS, limit, limit, "failures", "opened: " + ", ".join(opened))

    return check("breaker", f"Circuit breaker opens after {limit} consecutive failures", judge)


def no_exits(run: ScenarioRun, targeted: tuple[str, ...] = ()) -> Check:
    """No process the scenario did not stop went down, and none logged a crash."""

    def judge(ctx: RunContext) -> Verdict:
        start, end = ctx.started, ctx.history.snapshot()[-1].t if len(ctx.history) else 0
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
        return Verdict("", FAIL if bad else PASS, bad, 0, "exits", evidence)

    return check("no_exits", "No service crashes or exits", judge)


def back_to_steady(run: ScenarioRun) -> Check:
    """Recovery is automatic: from the last heal to every game on exactly one healthy shard."""

    def judge(ctx: RunContext) -> Verdict:
        healed = ctx.last_heal
        at = facts.steady_at(ctx.history, healed, total_games(run), fresh(run))
        limit = run.limit("recover")
        if at is None:
            held = facts.games_at(ctx.history, ctx.history.snapshot()[-1].t, fresh(run))
            return Verdict(
                "",
                FAIL,
                None,
                limit,
                "s",
                "never back to every game on exactly one healthy shard; last seen: "
                + ", ".join(f"{s}: {len(g)} games" for s, g in sorted(held.items())),
            )
        took = round(max(0.0, at - healed), 3)
        return within(
            took, limit, f"every game on exactly one healthy shard {took:g}s after the heal"
        )

    return check("recovered", "System returns to normal operation without intervention", judge)


def message_loss(run: ScenarioRun) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        contract = run.system.profile.contract
        if not contract.signal_stream or not contract.consumer_mark:
            return Verdict(
                "",
                UNKNOWN,
                None,
                0,
                "messages",
                "the profile's contract names no signal_stream and consumer_mark",
            )
        ledger = sources.signal_ledger(
            run.system.direct["redis"], contract.signal_stream, contract.consumer_mark, ctx.history
        )
        bad = len(ledger.lost) + len(ledger.duplicated) + sum(ledger.consumer_behind.values())
        if not ledger.sent:
            return Verdict("", UNKNOWN, None, 0, "messages", "no signal was acknowledged")
        return Verdict(
            "",
            FAIL if bad else PASS,
            bad,
            0,
            "messages",
            ledger.evidence(),
            {"sent": ledger.sent, "lost": len(ledger.lost), "duplicated": len(ledger.duplicated)},
        )

    return check("message_loss", "Zero message loss (signals stream, from the source)", judge)
