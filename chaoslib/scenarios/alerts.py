"""Alert checks: raised (timed from the condition) through whichever sinks the contract
declares, written to the alert file, and rate limited."""

from __future__ import annotations

from chaoslib.errors import MissingFact
from chaoslib.experiment.checks import Verdict, failed, judged, unknown
from chaoslib.experiment.runner import Check, RunContext
from chaoslib.observe.history import Event
from chaoslib.scenarios import facts
from chaoslib.scenarios.base import ScenarioRun, check


def received(run: ScenarioRun, ctx: RunContext, key: str, since: float) -> tuple[list[Event], str]:
    """The alert's arrivals at every declared sink that chaoslib can see, and which those are.

    Raises MissingFact when the profile declares no sink or no name for this alert."""
    alert, sinks = run.alert(key), run.contract.sinks
    got: list[Event] = []
    seen: list[str] = []
    if sinks.webhook_field and alert.webhook and run.system.webhook_url:
        got += facts.deliveries(ctx.history, sinks.webhook_field, alert.webhook, since)
        seen.append("the webhook")
    if sinks.file_format and alert.file and run.system.alert_log is not None:
        got += facts.file_alerts(ctx.history, key, since)
        seen.append("the alert file")
    if not seen:
        raise MissingFact(
            f"alert sink chaoslib can read for {key} (contract.alert_sinks with "
            f"contract.alerts.{key}; for an attached compose project, compose.webhook_port "
            "or compose.alert_file)"
        )
    return sorted(got, key=lambda e: e.t), " and ".join(seen)


def alert_delivered(
    run: ScenarioRun, alert_key: str, since_step: str, condition: str, attempt: int = 0
) -> Check:
    """The alert reaches a sink; measured from when its condition became true.

    ``condition`` is a log pattern key whose first line after the fault marks that
    moment (with ``attempt``: the line whose ``attempt`` group equals it), or ``fault``
    for the moment the fault was applied.
    """
    title = run.contract.alerts.get(alert_key)
    shown = (title.webhook or title.file) if title else alert_key

    def judge(ctx: RunContext) -> Verdict:
        limit = run.limit("alert")
        at = ctx.applied_at(since_step) or 0.0
        got, where = received(run, ctx, alert_key, at)
        true_at: float | None = at
        if condition != "fault":
            pattern = run.pattern(condition, "attempt") if attempt else run.pattern(condition)
            lines = [
                e
                for e in facts.log_lines(ctx.history, None, condition, at)
                if not attempt or facts.group(e, pattern, "attempt") == str(attempt)
            ]
            true_at = lines[0].t if lines else None
        if not got:
            return failed(
                f"no {shown} alert reached {where}"
                + ("" if true_at is not None else f" (and no '{condition}' line)"),
                limit, "s",
            )  # fmt: skip
        took = round(max(0.0, got[0].t - (true_at if true_at is not None else at)), 3)
        return judged(took <= limit, took, limit, "s",
                      f"{shown} at {where} {took:g}s after the condition; {len(got)} arrival(s)",
                      {"arrivals": len(got)})  # fmt: skip

    return check(f"alert:{alert_key}", f"Critical alert sent: {shown}", judge)


def alert_in_file(run: ScenarioRun, alert_key: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        alert, sinks = run.alert(alert_key), run.contract.sinks
        if not sinks.file_format or not alert.file:
            return unknown(f"the profile declares no alert file sink for {alert_key} "
                           "(contract.alert_sinks.file)", 1, "lines")  # fmt: skip
        if run.system.alert_log is None:
            return unknown("no alert file is known for this system (compose.alert_file)", 1,
                           "lines")  # fmt: skip
        lines = facts.file_alerts(ctx.history, alert_key, ctx.started)
        return judged(bool(lines), len(lines), 1, "lines",
                      lines[0].detail[:160] if lines else
                      f"no {alert.file} line in {run.system.alert_log}")  # fmt: skip

    shown = run.contract.alerts.get(alert_key)
    return check(f"alert_file:{alert_key}",
                 f"Alert logged to file: {(shown.file if shown else '') or alert_key}", judge)  # fmt: skip


def rate_limited(run: ScenarioRun, alert_key: str, since_step: str, condition: str) -> Check:
    """Raised again and again (the condition's log line), the alert arrives once."""

    def judge(ctx: RunContext) -> Verdict:
        quiet = run.setting("alert_rate_limit")
        run.pattern(condition)
        at = ctx.applied_at(since_step) or 0.0
        raised = len(facts.log_lines(ctx.history, None, condition, at))
        got, where = received(run, ctx, alert_key, at)
        if raised < 2:
            return unknown(f"the condition was seen {raised} time(s); rate limiting needs two",
                           1, "arrivals", len(got))  # fmt: skip
        # Each sink on its own: two sinks each holding one line is still one alert.
        per_sink = max(
            len([e for e in got if e.source == facts.ALERT_FILE]),
            len([e for e in got if e.source != facts.ALERT_FILE]),
        )
        return judged(per_sink == 1, per_sink, 1, "arrivals",
                      f"raised {raised} times, arrived {per_sink} time(s) at {where} "
                      f"(limit: one per {quiet:g}s)")  # fmt: skip

    return check("rate_limit", "Alert rate limiting works", judge)
