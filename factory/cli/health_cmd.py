"""``factory health``: is the factory answering? The image's HEALTHCHECK runs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from factory.cli.output import Output, console, err_console, print_json

if TYPE_CHECKING:
    from factory.api.models import Health, RetrainOut


def register(app: typer.Typer) -> None:
    app.command()(health)


def health(
    ctx: typer.Context,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Database reachable and migrated, newest bar, live set size, newest run of each job,
    and the monitor's verdict on each config (green / yellow / red with the reasons).

    Exit code 0 while the database answers (status ok, or degraded when the newest run of
    some job failed — the loop retries it); 1 when the database cannot be read. The same
    read model as the API's GET /health.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from factory.api.models import DatabaseHealth, Health
    from factory.api.views import health as health_view
    from factory.cli import inspect_app

    a = inspect_app(ctx)  # read-only: a health probe never migrates or creates anything
    try:
        out = health_view(a)
    except SQLAlchemyError as exc:  # the database could not even be opened / migrated
        message = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        backend = a.settings.db_url.split(":", 1)[0].split("+", 1)[0]
        out = Health(
            status="unavailable",
            now=a.now(),
            database=DatabaseHealth(reachable=False, backend=backend, error=message),
        )
    finally:
        a.close()
    if format == "json":
        print_json(out.model_dump(mode="json"))
    else:
        _print(out)
    if out.status == "unavailable":
        raise typer.Exit(1)


def _print(out: Health) -> None:
    db = out.database
    if not db.reachable:
        err_console.print(f"unavailable: database ({db.backend}) cannot be read: {db.error}")
        return
    newest = f"newest bar {out.last_bar:%Y-%m-%d %H:%M}" if out.last_bar else "no bars yet"
    console.print(f"{out.status}: database ({db.backend}) answers; {newest}")
    console.print(
        f"live set: {out.live_set_size} config(s)"
        + (f" (promotion cycle {out.last_cycle})" if out.last_cycle else " (no promotion yet)")
    )
    for job, run in sorted(out.last_runs.items()):
        line = f"  {job:<10} {run.status:<8} {run.time_key}"
        if run.status == "failed" and run.error:
            line += f"  {run.error.strip().splitlines()[0]}"
        console.print(line, highlight=False)
    if not out.configs:
        console.print("config health: no monitor verdict yet (the monitor judges the live set)")
        return
    from rich.table import Table

    table = Table(title="config health (monitor)", title_justify="left")
    for col in ("config", "state", "live", "since", "bar", "reasons", "retrain"):
        table.add_column(col)
    for c in out.configs:
        table.add_row(
            c.config_id,
            c.state,
            "yes" if c.live else "",
            f"{c.since:%Y-%m-%d %H:%M}",
            f"{c.as_of:%Y-%m-%d %H:%M}" if c.as_of else "",
            "; ".join(c.reasons) or "-",
            retrain_text(c.retrain),
        )
    console.print(table)


def retrain_text(r: RetrainOut | None) -> str:
    """One cell: the latest retrain and where it stands ("challenger 5 bars, running")."""
    if r is None:
        return ""
    if r.mode == "refit":
        return f"refit after {r.after:%Y-%m-%d}, {r.status}"
    text = f"challenger {r.bars} bars, {r.status}"
    if r.challenger_net is not None and r.champion_net is not None:
        text += f" ({r.challenger_net:+.2%} vs {r.champion_net:+.2%})"
    return text
