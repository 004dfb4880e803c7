"""Guide test 9: the database fails writes transiently; retries carry them through.

What a retry is for is a write that fails: the first ``FAILED_WRITES`` statements matching
the contract's ``state_store.writes`` on each worker's database link get a real error from
the pg_query toxic (a slow query alone never fails a system with no write timeout). The
checks measure the retries, the writes that succeeded after one, and the rows lost or
written twice. On a proxy without pg_query (real Toxiproxy), every statement is delayed
past the declared write timeout instead.
"""

from __future__ import annotations

from chaoslib.errors import MissingFact
from chaoslib.experiment.checks import Verdict, judged, unknown
from chaoslib.experiment.runner import Check, Experiment, RunContext
from chaoslib.faults import schedule
from chaoslib.faults.network import ToxicFault
from chaoslib.observe.probes import sql
from chaoslib.scenarios import common, sources
from chaoslib.scenarios.base import ScenarioRun, check

STEP = "db"
FAILED_WRITES = 3  # per worker link: a retry with a few attempts carries each through
SELECT_PROBE = "db-slow:select"
COUNTERS = ("writes_ok", "writes_retried_ok", "writes_failed", "retries")


def _delta(run: ScenarioRun, ctx: RunContext) -> dict[str, float]:
    """The workers' write counters, summed: their rise from before the fault to the end.
    A worker process that restarted counts from zero."""
    at = min((f.t for f in ctx.faults), default=0.0)
    total = dict.fromkeys(COUNTERS, 0.0)
    for worker in run.workers:
        before = run.beats(ctx.history, worker, until=at)
        after = run.beats(ctx.history, worker, since=at)
        if not after:
            continue
        old = before[-1] if before and before[-1].process == after[-1].process else None
        for key in COUNTERS:
            new = after[-1].metric(key) or 0.0
            total[key] += new - ((old.metric(key) or 0.0) if old else 0.0)
    return total


def touched(faults: list[ToxicFault]) -> int:
    return sum(f.stats.get("matched", 0) for f in faults)


def retry_rate(run: ScenarioRun, faults: list[ToxicFault]) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        goal = run.limit("retry_success_pct")
        for key in ("writes_retried_ok", "writes_failed"):
            run.metric(key)
        stats = _delta(run, ctx)
        ok, failed_n = stats["writes_retried_ok"], stats["writes_failed"]
        hit = touched(faults)
        if ok + failed_n == 0:
            return unknown(f"the fault touched {hit} writes and none needed a retry: "
                           f"{'no matching write' if not hit else 'the fault was too mild'}",
                           goal, "%")  # fmt: skip
        rate = round(100.0 * ok / (ok + failed_n), 1)
        return judged(rate >= goal, rate, goal, "%",
                      f"the fault failed {hit} writes; {ok:.0f} succeeded after a retry, "
                      f"{failed_n:.0f} gave up", {"stats": stats})  # fmt: skip

    return check("retry_rate", "Retry logged and the operation succeeds after retry", judge)


def retried(run: ScenarioRun, faults: list[ToxicFault]) -> Check:
    """The system counted retries for the writes the fault failed (heartbeat metrics)."""

    def judge(ctx: RunContext) -> Verdict:
        run.metric("retries")
        stats, hit = _delta(run, ctx), touched(faults)
        if not hit:
            return unknown("the fault touched no write", 1, "retries")
        n = stats["retries"]
        return judged(n >= 1, int(n), 1, "retries",
                      f"{n:.0f} retries counted for the {hit} writes the fault failed")  # fmt: skip

    return check(
        "db_stats", "Write statistics tracked: the retries are counted (heartbeat metrics)", judge
    )


def writes_kept(run: ScenarioRun) -> Check:
    """Every write a worker counted as done is a row: acknowledged count vs rows."""

    def judge(ctx: RunContext) -> Verdict:
        run.metric("writes_ok")
        run.heartbeat_fact("started")
        lost = dup = acked = 0
        for worker in run.workers:
            found = run.beats(ctx.history, worker)
            if not found:
                continue
            last = found[-1]
            since, until = _epoch(last.started), _epoch(last.sent) if last.sent else None
            if since is None:
                raise MissingFact("parseable ISO time at contract.heartbeat.started")
            rows = [r for r in sources.rows(run.system.direct["postgres"], run.contract.state_rows,
                                            since, until or since + 86400) if r.worker == worker]  # fmt: skip
            distinct = len({(r.item, r.at) for r in rows})
            ok = int(last.metric("writes_ok") or 0)
            acked += ok
            lost += max(0, ok - distinct)
            dup += len(rows) - distinct
        if not acked:
            return unknown("no write was acknowledged", 0, "rows")
        return judged(not lost, lost, 0, "rows",
                      f"{acked} writes acknowledged, {lost} missing from the state store; "
                      f"{dup} written twice")  # fmt: skip

    return check("writes_kept", "No data loss (acknowledged writes are rows)", judge)


def _epoch(text: str) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def scope_verdict(matched: int, samples: list[float], failures: int) -> Verdict:
    """The matching writes failed (the toxic's count) while a SELECT 1 probe through the
    same proxy kept working. Every probe failing is the blunt fault this check exists for."""
    probes = len(samples) + failures
    if not probes or not matched:
        return unknown(f"{matched} matching writes failed, {probes} SELECT probes: too few "
                       "to compare", 0, "statements")  # fmt: skip
    slowest = f" (slowest {max(samples) * 1000:.0f} ms)" if samples else ""
    return judged(not failures, failures, 0, "statements",
                  f"{matched} matching writes failed; {failures} of {probes} SELECT 1 probes "
                  f"through the same link failed{slowest}")  # fmt: skip


def scoped(faults: list[ToxicFault], link: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        at, healed = ctx.applied_at(f"{STEP}:{link}") or 0.0, ctx.healed_at(f"{STEP}:{link}") or 0.0
        probes = [e for e in ctx.history.select(SELECT_PROBE, since=at) if e.t <= healed]
        samples = [float(e.value) for e in probes if e.ok and e.value is not None]
        return scope_verdict(touched(faults), samples, sum(1 for e in probes if not e.ok))

    return check(
        "db_slow_scoped", "Only the matching writes failed (pg_query): SELECT 1 did not", judge
    )


def build(run: ScenarioRun) -> Experiment:
    links = [name for w in run.workers for name in run.system.links_to("postgres", w)]
    if not links:
        raise MissingFact("link from a worker to postgres (links: service postgres)")
    exp = run.experiment("db-slow", observe_after=run.wait("recover"))
    scoped_ok = run.system.toxiproxy.supports(links[0], "pg_query") and run.contract.state_writes
    faults: list[ToxicFault] = []
    for name in links:
        link = run.system.link(name)
        if scoped_ok:
            fault = link.pg_query(run.contract.state_writes, action="error", count=FAILED_WRITES,
                                  sqlstate="40001", message="chaoslib: transient write failure")  # fmt: skip
        else:
            past = int(1500 * run.setting("db_write_timeout"))
            fault = link.latency(past, direction="both")
        faults.append(fault)
        exp.add(f"{STEP}:{name}", fault, schedule.once(0, run.wait("db_slow")))
    exp.checks = [
        retry_rate(run, faults),
        retried(run, faults),
        writes_kept(run),
        common.no_exits(run),
        common.back_to_steady(run),
    ]
    url = run.system.probe_url(links[0])
    if scoped_ok and url:  # the comparison needs a probe through the same proxy
        exp.observers.append(sql(url, name=SELECT_PROBE, interval=0.1, deadline=5.0))
        exp.checks.insert(0, scoped(faults, links[0]))
    return exp
