"""Alert checks: delivered at the webhook (timed from the condition) and written to the file."""

from __future__ import annotations

import re

from chaoslib.checks import FAIL, PASS, UNKNOWN, Verdict
from chaoslib.experiment import Check, RunContext
from chaoslib.scenarios import facts
from chaoslib.scenarios.base import ScenarioRun, check


def alert_delivered(
    run: ScenarioRun, alert_key: str, since_step: str, condition: str, detail: str = ""
) -> Check:
    """The alert reaches the webhook; measured from when its condition became true.

    ``condition`` is a log pattern key whose first line after the fault (that
    also matches the ``detail`` regex) marks that moment, or ``fault`` for the
    moment the fault was applied.
    """
    alert = run.alert_name(alert_key)

    def judge(ctx: RunContext) -> Verdict:
        at = ctx.applied_at(since_step) or 0.0
        got = facts.deliveries(ctx.history, alert, at)
        if condition == "fault":
            true_at: float | None = at
        else:
            lines = [
                e
                for e in facts.log_lines(ctx.history, None, condition, at)
                if re.search(detail, e.detail)
            ]
            true_at = lines[0].t if lines else None
        if not got and not run.system.webhook_url:
            return Verdict(
                "", UNKNOWN, None, run.limit("alert"), "s",
                "chaoslib's webhook sink is not reachable by this system "
                "(compose.webhook_port in the profile)",
            )  # fmt: skip
        if not got:
            return Verdict(
                "",
                FAIL,
                None,
                run.limit("alert"),
                "s",
                f"no {alert} alert reached the webhook"
                + ("" if true_at else f" (and no '{condition}' line)"),
            )
        took = round(max(0.0, got[0].t - (true_at if true_at is not None else at)), 3)
        return Verdict(
            "",
            PASS if took <= run.limit("alert") else FAIL,
            took,
            run.limit("alert"),
            "s",
            f"{alert} delivered {took:g}s after the condition; {len(got)} delivery(ies)",
            {"deliveries": len(got)},
        )

    return check(
        f"alert:{alert_key}", f"Critical alert sent: {alert} (received at the webhook)", judge
    )


def alert_in_file(run: ScenarioRun, alert_key: str) -> Check:
    def judge(ctx: RunContext) -> Verdict:
        path = run.system.alert_log
        lines = run.system.alert_lines()
        if lines is None:
            return Verdict(
                "", UNKNOWN, None, 1, "lines",
                "no alert file is known for this system (compose.alert_file in the profile)",
            )  # fmt: skip
        key = run.system.profile.contract.alert_file_keys.get(alert_key, alert_key)
        mine = [line for line in lines if f" | {key} | " in line]
        return Verdict(
            "",
            PASS if mine else FAIL,
            len(mine),
            1,
            "lines",
            mine[0][:160] if mine else f"no {alert_key} line in {path}",
        )

    return check(
        f"alert_file:{alert_key}", f"Alert logged to file: {run.alert_name(alert_key)}", judge
    )
