"""Each fault task's own measures, added to the held fault: what they print, what they
check (into the journal), and what they start at the apply.

- ``db-slow``: the probe statement's latency against the latency injected; with
  ``--pattern``, a matching and a non-matching statement's latency, and the toxic's
  matched/passed counts (less the statements the task built to match).
- ``bandwidth``: the throughput of a known transfer through the link, against the limit.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from chaoslib.cli import measure
from chaoslib.cli.hold import STEP, Held, probe_link
from chaoslib.cli.measure_fault import StatementTimer, Transfer, statement_for, transfer_size
from chaoslib.experiment.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment.runner import RunContext
from chaoslib.target import Target

PROBE_SQL = "SELECT 1"  # what the task's probe runs (chaoslib.observe.held.HeldSqlProbe)
TOLERANCE = 0.5  # a measured delay below half the injected one means the fault did not act


@dataclass
class Measures:
    """What a task prepares before the run and finishes after it (whatever happened)."""

    prepare_steps: list[Callable[[], None]] = field(default_factory=list)
    finish_steps: list[Callable[[], None]] = field(default_factory=list)

    def prepare(self) -> None:
        for step in self.prepare_steps:
            step()

    def finish(self) -> None:
        for step in self.finish_steps:
            step()


def samples_during(held: Held, ctx: RunContext, source: str) -> list[measure.Sample]:
    """The probe's answers that began once the fault was in place and ended before the heal."""
    applied, healed = held.in_place_at, ctx.healed_at(STEP)
    if applied is None or healed is None:
        return []
    return [
        s for s in measure.samples(ctx.history, source) if s.start >= applied and s.end <= healed
    ]


def delay_verdict(name: str, took: list[float], expected: float, matched: bool) -> Verdict:
    """Delayed by about ``expected`` (matched) or not delayed (not matched)."""
    if not took:
        return Verdict(name, UNKNOWN, evidence="no answer finished while it held")
    median = statistics.median(took)
    if matched:
        status = PASS if median >= expected * TOLERANCE else FAIL
        evidence = f"median {measure.ms(median)} over {len(took)}, {measure.ms(expected)} injected"
    else:
        status = PASS if median < max(expected * TOLERANCE, measure.MIN_SLOW_MARGIN) else FAIL
        evidence = f"median {measure.ms(median)} over {len(took)}, not delayed"
    return Verdict(name, status, round(median, 4), round(expected, 4), "s", evidence)


def probe_delay(
    probe: str, expected: float, delayed: bool, injected: str
) -> Callable[[Held, Target], Measures]:
    """The task's probe (``probe``: e.g. ``statement 'SELECT 1'``) timed while it held:
    delayed by about ``expected`` seconds, or (``delayed`` false) not delayed at all."""

    def add(held: Held, target: Target) -> Measures:
        source = f"{probe_link(target, held.links)} probe"
        name = f"the probe's {probe}: {'delayed' if delayed else 'not delayed'}"
        got: dict[str, list[float]] = {}

        def check(ctx: RunContext) -> Verdict:
            got["took"] = [s.latency for s in samples_during(held, ctx, source) if s.ok]
            return delay_verdict(name, got["took"], expected, delayed)

        def lines() -> list[str]:
            took = got.get("took") or []
            said = (f"median {measure.ms(statistics.median(took))} over {len(took)}"
                    if took else "no answer finished while it held")  # fmt: skip
            return [f"Probe {probe} while it held: {said} (injected {injected})"]

        held.checks.append(check)
        held.lines.append(lines)
        return Measures()

    return add


def slow_link(
    ms: int, jitter: int, probe: str = f"statement {PROBE_SQL!r}"
) -> Callable[[Held, Target], Measures]:
    """Latency on the whole link (``db-slow`` without a pattern, ``redis-slow`` without
    commands): the probe pays it both ways."""
    jit = f" ± {jitter} ms" if jitter else ""
    expected = 2 * ms / 1000
    injected = f"{ms} ms{jit} each way: {measure.ms(expected)} per round trip"
    return probe_delay(probe, expected, True, injected)


def slow_statements(pattern: str, ms: int) -> Callable[[Held, Target], Measures]:
    """``db-slow --pattern``: the probe's SELECT and a statement of the other kind, timed."""
    expected = ms / 1000

    def add(held: Held, target: Target) -> Measures:
        link = probe_link(target, held.links)
        source, url = f"{link} probe", target.url(link)
        probe_matches = held.added > 0
        other = statement_for(pattern, matching=not probe_matches)
        timer = None
        if other is not None:
            label = "matching" if not probe_matches else "non-matching"
            timer = StatementTimer(url, other, f"{label} statement (the task's own)", expected,
                                   deadline=max(10.0, 4 * expected + 2))  # fmt: skip
            held.on_apply.append(lambda at: timer.start(_heal_at(held, at)))
            if not probe_matches:
                held.own_matches = lambda: len(timer.results)
        probe_name = f"{'matching' if probe_matches else 'non-matching'} statement (the probe's {PROBE_SQL!r})"
        got: dict[str, list[float]] = {}

        def check_probe(ctx: RunContext) -> Verdict:
            got["probe"] = [s.latency for s in samples_during(held, ctx, source) if s.ok]
            return delay_verdict(f"{probe_name}: {'delayed' if probe_matches else 'not delayed'}",
                                  got["probe"], expected, probe_matches)  # fmt: skip

        def check_timer(ctx: RunContext) -> Verdict:
            assert timer is not None
            timer.finish(timeout=held.recover_within + 5)
            took = [s.latency for s in timer.results]
            return delay_verdict(f"{timer.label} {other!r}: "
                                  f"{'not delayed' if probe_matches else 'delayed'}",
                                  took, expected, not probe_matches)  # fmt: skip

        def lines() -> list[str]:
            took = got.get("probe") or []
            said = (f"median {measure.ms(statistics.median(took))} over {len(took)} answers"
                    if took else "no answer finished while it held")  # fmt: skip
            out = [f"{probe_name[0].upper()}{probe_name[1:]}: {said}"]
            if timer is not None:
                out.append(f"{timer.line()[0].upper()}{timer.line()[1:]}")
            else:
                out.append(f"No read-only statement the task may build matches {pattern!r}: "
                           f"the matched statements' delay is the toxic's, {ms} ms each "
                           "(see the matched count below)")  # fmt: skip
            out.append(f"Injected: {ms} ms on each statement matching {pattern!r}")
            return out

        held.checks.append(check_probe)
        if timer is not None:
            held.checks.append(check_timer)
        held.lines.append(lines)
        measures = Measures()
        if timer is not None:
            measures.prepare_steps.append(timer.prepare)
            measures.finish_steps.append(lambda: timer.finish(timeout=5))
        return measures

    return add


def _heal_at(held: Held, applied: float) -> float | None:
    """When the (single-window) hold ends, on the probe's clock; None: until Ctrl-C."""
    end = held.windows[0].end if len(held.windows) else None
    if end is None or end == float("inf"):
        return None
    return applied + (end - held.windows[0].start)


def throughput(kbps: int, hold: float) -> Callable[[Held, Target], Measures]:
    """``bandwidth``: a known transfer through the link, timed, against the limit."""

    def add(held: Held, target: Target) -> Measures:
        url = target.url(probe_link(target, held.links))
        nbytes = transfer_size(kbps, hold)
        seconds = nbytes / 1000 / kbps if kbps else None
        transfer = Transfer(url, nbytes, deadline=max(10.0, 3 * (seconds or 0) + 5))
        held.on_apply.append(lambda at: transfer.start())
        name = f"throughput at most {kbps} KB/s"

        def check(ctx: RunContext) -> Verdict:
            transfer.finish(timeout=held.recover_within + 5)
            healed = ctx.healed_at(STEP)
            rate = transfer.kbps
            if kbps == 0:
                stalled = transfer.ended is None or (
                    healed is not None and transfer.ended >= healed
                )
                return Verdict(name, PASS if stalled else FAIL, rate, 0, "KB/s",
                               "the transfer stalled until the heal" if stalled
                               else f"{nbytes} bytes went through at {rate:.1f} KB/s")  # fmt: skip
            if rate is None:
                return Verdict(name, UNKNOWN, None, kbps, "KB/s",
                               f"the transfer did not finish: {transfer.error}")  # fmt: skip
            assert transfer.ended is not None and transfer.started is not None
            if healed is not None and transfer.ended > healed:
                return Verdict(name, UNKNOWN, round(rate, 1), kbps, "KB/s",
                               "the transfer outlasted the hold, so it is no measure of the "
                               "limit")  # fmt: skip
            took = transfer.ended - transfer.started
            evidence = f"{nbytes} bytes in {took:.3f}s: {rate:.1f} KB/s"
            status = PASS if rate <= kbps * 1.3 else FAIL
            if status == FAIL and nbytes >= 8_000_000:
                status, evidence = UNKNOWN, evidence + " (the probe's 8 MB did not reach the limit)"
            return Verdict(name, status, round(rate, 1), kbps, "KB/s", evidence)

        def lines() -> list[str]:
            rate = transfer.kbps
            said = f"{rate:.1f} KB/s" if rate is not None else "not measured"
            return [f"Throughput through the link while it held: {said} (limit {kbps} KB/s; "
                    f"a read of {nbytes} bytes)"]  # fmt: skip

        held.checks.append(check)
        held.lines.append(lines)
        return Measures([transfer.prepare], [lambda: transfer.finish(timeout=5)])

    return add
