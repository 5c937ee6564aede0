"""``factory artifacts verify``."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from factory.cli.output import Output, console, err_console, print_json, print_table

app = typer.Typer(no_args_is_help=True)


@app.command()
def verify(
    ctx: typer.Context,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Check every stored artifact: the file exists, lies inside the artifact root
    (symlinks resolved) and has the recorded size and sha256. Exits 1 on any problem.
    Read-only: the database is not written (the daemon's prune job records problems as
    events)."""
    from factory.artifacts_verify import as_dict, verify_artifacts
    from factory.cli import inspect_app

    a = inspect_app(ctx)
    report = verify_artifacts(a.db, a.store)
    if format == "json":
        print_json(
            {
                "database": a.db.describe(),
                "root": report.root,
                "checked": report.checked,
                "ok": report.ok,
                "problems": [as_dict(p) for p in report.problems],
            }
        )
    elif report.ok:
        console.print(f"{report.checked} artifacts verified under {report.root}: all intact")
    else:
        print_table(
            pd.DataFrame([as_dict(p) for p in report.problems]),
            columns=["artifact_id", "config_id", "problem", "uri", "detail"],
            formats={"artifact_id": "d"},
            title=f"{len(report.problems)} of {report.checked} artifacts under {report.root} "
            "failed verification",
        )
    if not report.ok:
        if format != "json":
            err_console.print(
                f"error: {len(report.problems)} of {report.checked} artifacts failed verification"
            )
        raise typer.Exit(1)
