"""``factory simulate`` and ``factory report``: thin wiring over ``factory.review``."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from factory.cli.output import Output, console, fmt, print_json


def register(app: typer.Typer) -> None:
    app.command()(simulate)
    app.command()(report)


def _date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def simulate(
    ctx: typer.Context,
    start: Annotated[
        str | None,
        typer.Option(help="first bar (default: when a config first has min_track_record bars)"),
    ] = None,
    end: Annotated[str | None, typer.Option(help="last bar (default: the last stored bar)")] = None,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Replay rating, promotion and rebalance bar by bar over the stored out-of-sample
    record, next to the baselines, on the same bars and costs."""
    from factory.cli import make_app
    from factory.review import simulate as run

    a = make_app(ctx)
    started = time.perf_counter()
    sim = run(a, _date(start, "--start"), _date(end, "--end"))
    if format == "json":
        print_json(sim.payload)
        return
    print_summary(sim.payload, time.perf_counter() - started, sim.replay.rating_seconds)


def _pct(value: Any) -> str:
    return fmt(value, ".1%")


def print_summary(p: dict[str, Any], seconds: float, rating_seconds: float) -> None:
    """The seed article's results table, honest version, then the strategies."""
    from rich.table import Table

    from factory.review.summary import STRATEGY_ORDER

    pool = p["pool"]
    n_bars = p["strategies"]["factory"]["n_bars"]
    cycles = p["promotion_cycles"]
    head = Table(
        title=f"historical simulation {fmt(p['start'])} to {fmt(p['end'])}", show_header=False
    )
    head.add_column("what")
    head.add_column("value")
    head.add_row("configurations tested", f"{p['configs_evaluated']}")
    head.add_row(
        "win-rate range",
        f"{_pct(pool['win_rate']['min'])} to {_pct(pool['win_rate']['max'])} "
        f"(median {_pct(pool['win_rate']['median'])})",
    )
    head.add_row(
        "Sharpe range",
        f"{fmt(pool['sharpe']['min'], '+.2f')} to {fmt(pool['sharpe']['max'], '+.2f')} "
        f"(median {fmt(pool['sharpe']['median'], '+.2f')})",
    )
    head.add_row(
        "adaptation",
        f"{cycles} promotion cycles over {n_bars + 1} bars; live set {p['mean_active']:.1f} "
        f"configs on average; {p['bars_in_cash']} bars in cash",
    )
    head.add_row(
        "factory deflated Sharpe",
        f"{fmt(p['factory_deflated_sharpe'], '.3f')} (P[true Sharpe > best of the pool's "
        "trials under no skill])",
    )
    head.add_row("pool PBO", fmt(p["pool_pbo"], ".2f"))
    head.add_row("best_static config", str(p["best_static_config"]))
    console.print(head)
    table = Table(title="strategies (same bars, same costs)", header_style="bold")
    cols = (
        ("sharpe", "+.2f"),
        ("sortino", "+.2f"),
        ("annual_return", ".1%"),
        ("annual_volatility", ".1%"),
        ("max_drawdown", ".1%"),
        ("calmar", "+.2f"),
        ("win_rate", ".1%"),
        ("turnover", ".1f"),
        ("n_bars", "d"),
    )
    table.add_column("strategy")
    for name, _ in cols:
        table.add_column(name, justify="right")
    spread = p.get("random_k_spread", {})
    for name in STRATEGY_ORDER:
        row = p["strategies"].get(name)
        if row is None:
            continue
        cells = []
        for col, spec in cols:
            cell = fmt(row[col], spec)
            if name == "random_k" and col == "sharpe" and spread.get("seeds", 0) > 1:
                cell += f" ±{fmt(spread['sharpe'], '.2f')}"
            cells.append(cell)
        table.add_row(
            name if name != "random_k" else f"random_k ({spread.get('seeds', 0)} seeds)", *cells
        )
    console.print(table)
    console.print(
        f"{seconds:.1f} s ({rating_seconds:.1f} s rating {cycles} cycles). Sharpe annualised; "
        "turnover = capital traded per year; random_k: mean over seeds ± sample std."
    )


def report(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="HTML file (default: <output_dir>/report.html)")
    ] = None,
) -> None:
    """Write a self-contained HTML report (leaderboard, simulation curves, promotions,
    overfitting diagnostics, model cards); it opens with no network."""
    from factory.cli import make_app
    from factory.review.report import write_report

    a = make_app(ctx)
    path = write_report(a, out or a.output_dir / "report.html")
    console.print(f"report: {path}")
