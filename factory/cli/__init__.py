"""The ``factory`` command line. ``factory --help`` lists the commands.

The CLI is the composition root: the one place in ``factory`` that may import
``scheduler`` (see docs/architecture.md, "Package boundaries").
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from factory.app import App
from factory.cli.output import err_console
from factory.settings import SettingsError, load_settings

app = typer.Typer(
    name="factory",
    help="Model Factory: expand architectures into configs, evaluate them walk-forward, "
    "rate them honestly and promote the best into a live set.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="settings file (default: $FACTORY_CONFIG or ./factory.toml)"
        ),
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="database URL (overrides db_url)")] = None,
) -> None:
    ctx.obj = {"config": config, "db": db}


def make_app(ctx: typer.Context, **overrides: object) -> App:
    """Settings from file/env plus the root options and command overrides."""
    obj = ctx.find_root().obj or {}
    settings = load_settings(obj.get("config"), db_url=obj.get("db"), **overrides)
    return App(settings)


def inspect_app(ctx: typer.Context) -> App:
    """`make_app` for inspection commands: the database is opened read-only, never
    migrated and never created (see docs/operations.md, "Read-only inspection")."""
    return replace(make_app(ctx), read_only=True)


def _register() -> None:
    from factory.cli import (
        arch_cmd,
        artifacts_cmd,
        data_cmd,
        demo_cmd,
        health_cmd,
        monitor_cmd,
        pipeline_cmd,
        review_cmd,
        serve_cmd,
        tune_cmd,
    )

    app.add_typer(data_cmd.app, name="data", help="Import, generate and inspect market data.")
    app.add_typer(arch_cmd.app, name="arch", help="List, show and check architectures.")
    app.add_typer(artifacts_cmd.app, name="artifacts", help="Verify the stored model artifacts.")
    pipeline_cmd.register(app)
    demo_cmd.register(app)
    serve_cmd.register(app)
    health_cmd.register(app)
    monitor_cmd.register(app)
    review_cmd.register(app)
    tune_cmd.register(app)


_register()


def main() -> None:
    from factory.data.errors import DataValidationError
    from factory.jobs import NothingToDo
    from factory.storage.database import DatabaseError

    try:
        app()
    except (SettingsError, DataValidationError) as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc).strip())}", markup=True)
        sys.exit(2)
    except (NothingToDo, LookupError, KeyError, DatabaseError, ConnectionError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        err_console.print(f"[bold red]error:[/] {escape(str(message).strip())}", markup=True)
        sys.exit(1)
