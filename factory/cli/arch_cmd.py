"""``factory arch list|show|check``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.markup import escape

from factory.cli.output import Format, Output, console, print_csv, print_json, print_table

if TYPE_CHECKING:
    from factory.storage.results import MeasuredCost

FAMILIES = ("classical", "deep", "econometric", "rl")

app = typer.Typer(no_args_is_help=True)


def _grid_size(grid: dict[str, tuple[object, ...]]) -> int:
    return math.prod(len(v) for v in grid.values()) if grid else 1


@app.command("list")
def list_(
    pattern: Annotated[
        str | None,
        typer.Argument(help="only names matching this shell pattern (e.g. 'gr*', '*lstm*')"),
    ] = None,
    family: Annotated[
        str | None, typer.Option("--family", help="classical, deep, econometric or rl")
    ] = None,
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Registered architectures (built-in and plugins) and unavailable plugins."""
    from fnmatch import fnmatchcase

    from architectures import registry

    if family is not None and family not in FAMILIES:
        raise typer.BadParameter(f"--family must be one of {', '.join(FAMILIES)}")

    def wanted(name: str, fam: str | None) -> bool:
        return (pattern is None or fnmatchcase(name, pattern)) and (
            family is None or fam is None or fam == family
        )

    rows = [
        {
            "name": s.name,
            "version": s.version,
            "family": s.family,
            "input": s.input,
            "output": s.tags.output,
            "per_asset": s.tags.per_asset,
            "grid_size": _grid_size(dict(s.param_grid)),
            "source": s.source,
            "entry_point": s.entry_point,
            "description": s.description,
        }
        for s in registry.available()
        if wanted(s.name, s.family)
    ]
    bad = [
        {"name": u.name, "entry_point": u.entry_point, "error": u.error}
        for u in registry.unavailable()
        if wanted(u.name, None)
    ]
    if format == "json":
        print_json({"architectures": rows, "unavailable": bad})
        return
    frame = pd.DataFrame(rows)
    if format == "csv":
        print_csv(frame)
        return
    print_table(
        frame,
        columns=[
            "name",
            "version",
            "family",
            "input",
            "output",
            "grid_size",
            "source",
            "description",
        ],
        formats={"version": "d", "grid_size": "d"},
        title="architectures",
    )
    for u in bad:
        detail = escape(f"{u['name']} ({u['entry_point']}): {u['error']}")
        console.print(f"[yellow]unavailable[/] {detail}", markup=True)


@app.command()
def show(
    ctx: typer.Context,
    name: str,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """One architecture's spec: tags, defaults, grid, and what it has cost so far."""
    from dataclasses import asdict

    from architectures import registry

    s = registry.get(name)
    cost = _measured_cost(ctx, s.name)
    payload = {
        "name": s.name,
        "version": s.version,
        "entry_point": s.entry_point,
        "source": s.source,
        "description": s.description,
        "tags": asdict(s.tags),
        "default_params": dict(s.default_params),
        "param_grid": {k: list(v) for k, v in s.param_grid.items()},
        "test_params": dict(s.test_params),
        "measured_cost": None if cost is None else asdict(cost),
    }
    if format == "json":
        print_json(payload)
        return
    console.print(f"[bold]{s.key}[/]  {escape(s.description)}", markup=True)
    console.print(f"entry point: {s.entry_point}  ({s.source})")
    for key, value in asdict(s.tags).items():
        console.print(f"  {key:<20} {value}")
    console.print("defaults:    " + ", ".join(f"{k}={v}" for k, v in s.default_params.items()))
    console.print(
        "param grid:  " + (", ".join(f"{k}={list(v)}" for k, v in s.param_grid.items()) or "(none)")
    )
    if cost is None:
        console.print("measured:    no evaluation of it in this database yet")
    else:
        console.print(
            f"measured:    {cost.fit_seconds:.1f} s fit + {cost.predict_seconds:.1f} s predict "
            f"per config ({cost.retrains:.0f} refits; mean of {cost.configs} evaluated configs)"
        )


def _measured_cost(ctx: typer.Context, name: str) -> MeasuredCost | None:
    """The cost evaluations of ``name`` had in the configured database, read-only; None
    when there is no such database (arch commands work without one)."""
    from factory.cli import inspect_app
    from factory.settings import SettingsError
    from factory.storage.database import DatabaseError
    from factory.storage.results import architecture_cost

    try:
        a = inspect_app(ctx)
        try:
            return architecture_cost(a.db, name)
        finally:
            a.close()
    except (DatabaseError, SettingsError, LookupError):
        return None


@app.command()
def check(name: str, format: Annotated[Output, typer.Option("--format")] = Output.table) -> None:
    """Run the architecture contract checks (the same ones the test suite runs)."""
    from architectures import registry
    from architectures.testing import check_architecture
    from scheduler.backends import single_thread

    single_thread()
    spec = registry.get(name)
    results = check_architecture(spec)
    passed = all(r.passed or r.skipped for r in results)
    if format == "json":
        print_json(
            {
                "architecture": spec.key,
                "passed": passed,
                "checks": [
                    {
                        "name": r.name,
                        "passed": r.passed,
                        "skipped": r.skipped,
                        "message": r.message,
                        "seconds": r.seconds,
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            mark = (
                "[yellow]skip[/]"
                if r.skipped
                else ("[green]ok[/]  " if r.passed else "[red]FAIL[/]")
            )
            console.print(
                f"{mark} {r.name:<32} {r.seconds:6.2f}s  {escape(r.message)}", markup=True
            )
        n_fail = sum(1 for r in results if not (r.passed or r.skipped))
        console.print(f"{spec.key}: {len(results) - n_fail}/{len(results)} checks passed")
    if not passed:
        raise typer.Exit(1)
