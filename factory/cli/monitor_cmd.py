"""``factory monitor``: judge the live set's health now (what the loop's monitor job does
for each new bar), and send the alerts it raises."""

from __future__ import annotations

from typing import Annotated

import typer

from factory.cli.output import Output, console, print_json


def register(app: typer.Typer) -> None:
    app.command()(monitor)


def monitor(
    ctx: typer.Context,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Judge the live set (and every config still yellow or red) as of the newest bar:
    store the verdicts, record state changes as events, demote red configs out of cycle
    (docs/operations.md 6.3). Not recorded in ``runs``: the loop still judges every bar."""
    from factory.cli import make_app
    from factory.monitor.alerts import send_alerts
    from factory.monitor.job import monitor_job

    a = make_app(ctx)
    out = monitor_job(a)
    s = a.settings.alerts
    send_alerts(
        out.alerts, at=a.clock.now(), webhook_url=s.webhook_url, timeout_s=s.timeout_seconds
    )
    if format == "json":
        print_json(
            {
                "time_key": out.time_key,
                "summary": out.summary(),
                "demotion_cycle": out.demotion_cycle,
                "verdicts": [
                    {
                        "config_id": v.config_id,
                        "previous": v.previous,
                        "state": v.state,
                        "reasons": list(v.reasons),
                        "skipped": list(v.skipped),
                    }
                    for v in out.verdicts
                ],
            }
        )
        return
    console.print(f"monitor at bar {out.time_key}: {out.summary()}")
    for v in out.verdicts:
        change = f"{v.previous} -> {v.state}" if v.previous != v.state else v.state
        console.print(
            f"  {v.config_id}  {change:<15} {'; '.join(v.reasons) or '-'}", highlight=False
        )
