"""``factory data import|synth|show``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from factory.cli.output import Format, Output, console, print_csv, print_json, print_table, records
from factory.data.schema import KINDS

if TYPE_CHECKING:
    from factory.app import App
    from factory.storage.bars import ImportResult

app = typer.Typer(no_args_is_help=True)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(
            help="a CSV/Parquet file (long form) or a directory of <ASSET>.csv|.parquet; "
            "with --sample, the sample's name"
        ),
    ] = None,
    kind: Annotated[str, typer.Option(help=f"what the file holds: {', '.join(KINDS)}")] = "bars",
    sample: Annotated[
        bool,
        typer.Option(
            "--sample",
            help="import an embedded sample: `--sample` (or `--sample arch`) = S&P 500 and "
            "NASDAQ daily OHLCV 1999-2018 (arch.data); `--sample sp500-20` = 20 US large "
            "caps, daily adjusted closes 1990-2022, closes only (skfolio)",
        ),
    ] = False,
    close_only: Annotated[
        bool,
        typer.Option(
            "--close-only",
            help="bars files of timestamp, asset, close only: open/high/low/volume stay empty "
            "(never invented) and the plan excludes the pipelines that need them",
        ),
    ] = False,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Validate and store data. Nothing is written unless every file is valid; bars
    already stored are skipped, new bars appended."""
    from datetime import timedelta

    from factory.cli import make_app
    from factory.data.importer import import_path, import_sample
    from factory.data.sample import SAMPLES, get_sample

    if kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}")
    if sample:
        # `--sample sp500-20` reaches here as the flag plus PATH "sp500-20".
        name = "arch" if path is None else str(path)
        if name not in SAMPLES:
            raise typer.BadParameter(
                f"give a PATH or --sample [NAME], not both: samples are {', '.join(SAMPLES)}"
            )
        if close_only or kind != "bars":
            raise typer.BadParameter("--sample takes neither --close-only nor --kind")
    elif path is None:
        raise typer.BadParameter("give a PATH or --sample [NAME] (one of them)")
    if close_only and kind != "bars":
        raise typer.BadParameter("--close-only applies to bars (--kind bars)")
    a = make_app(ctx)
    chosen = None
    if sample:
        chosen = get_sample(name)
        result = import_sample(a.db, chosen, at=a.now())
    else:
        assert path is not None
        tolerance = timedelta(hours=a.settings.data.future_tolerance_hours)
        result = import_path(
            a.db,
            path,
            kind=kind,
            at=a.now(),
            future_tolerance=tolerance,
            close_only=close_only,
        )
    is_close_only = chosen.close_only if chosen is not None else close_only
    payload = {
        "import_id": result.import_id,
        "kind": "bars" if sample else kind,
        "rows_in": result.rows_in,
        "rows_added": result.rows_added,
        "assets": list(result.assets),
        "close_only": is_close_only,
        "sample": None if chosen is None else chosen.name,
        "database": a.db.describe(),
    }
    if format == "json":
        print_json(payload)
    else:
        console.print(
            f"imported {result.rows_in} {'bars' if sample or kind == 'bars' else 'values'} "
            f"({result.rows_added} new) for {len(result.assets)} asset(s) "
            f"into {a.db.describe()}"
            + (" (closes only: no open/high/low/volume)" if is_close_only else "")
        )


def _iso_date(value: str) -> str:
    import pandas as pd

    try:
        pd.Timestamp(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)") from None
    return value


@app.command()
def synth(
    ctx: typer.Context,
    assets: Annotated[int, typer.Option(min=1, help="number of assets")] = 20,
    bars: Annotated[int, typer.Option(min=2, help="bars per asset")] = 2520,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    signal: Annotated[
        str,
        typer.Option(
            help="none: no predictability; planted: a known, learnable signal; "
            "drift: no predictability but a 15%/year market drift"
        ),
    ] = "none",
    extras: Annotated[str, typer.Option(help="comma list of book, sentiment, onchain")] = "",
    start: Annotated[
        str, typer.Option(help="first bar date (YYYY-MM-DD)", callback=_iso_date)
    ] = "2010-01-04",
    attach: Annotated[
        bool,
        typer.Option(
            "--attach",
            help="instead of a new universe, attach synthetic sentiment/on-chain series (--extras) "
            "to the stored bars so that every pipeline can run on them",
        ),
    ] = False,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Generate a seeded synthetic universe and store it (through the same validation)."""
    from factory.cli import make_app

    if signal not in ("none", "planted", "drift"):
        raise typer.BadParameter("--signal must be none, planted or drift")
    extra = tuple(e.strip() for e in extras.split(",") if e.strip())
    allowed = ("sentiment", "onchain") if attach else ("book", "sentiment", "onchain")
    bad = sorted(set(extra) - set(allowed))
    if bad:
        raise typer.BadParameter(
            f"unknown extras {bad}; choose from {', '.join(allowed)}", param_hint="--extras"
        )
    a = make_app(ctx)
    if attach:
        source, results = attach_synthetic_aux(
            a, seed=seed, extras=extra or ("sentiment", "onchain")
        )
    else:
        from factory.data.importer import import_frame
        from factory.data.synth import synth_universe

        u = synth_universe(assets, bars, seed=seed, signal=signal, extras=extra, start=start)  # type: ignore[arg-type]
        source = f"synth(assets={assets}, bars={bars}, seed={seed}, signal={signal}, extras={','.join(extra) or 'none'})"
        results = [import_frame(a.db, u.bars, kind="bars", source=source, at=a.now())]
        if u.sentiment is not None:
            results.append(
                import_frame(a.db, u.sentiment, kind="sentiment", source=source, at=a.now())
            )
        if u.onchain is not None:
            results.append(import_frame(a.db, u.onchain, kind="onchain", source=source, at=a.now()))
    payload = {
        "source": source,
        "imports": [
            {"import_id": r.import_id, "rows_in": r.rows_in, "rows_added": r.rows_added}
            for r in results
        ],
        "database": a.db.describe(),
    }
    if format == "json":
        print_json(payload)
    else:
        parts = []
        if not attach:
            parts.append(f"{results[0].rows_added} new bars")
        values = sum(r.rows_added for r in (results if attach else results[1:]))
        if values or attach or len(results) > 1:
            parts.append(f"{values} new sentiment/on-chain values")
        console.print(f"stored {source}: {' and '.join(parts)} in {a.db.describe()}")


@app.command()
def show(
    ctx: typer.Context,
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Assets, date ranges and row counts of the stored data."""
    from factory.cli import inspect_app
    from factory.storage.bars import data_summary

    a = inspect_app(ctx)
    bars, aux = data_summary(a.db)
    if format == "json":
        print_json({"database": a.db.describe(), "bars": records(bars), "aux": records(aux)})
        return
    if format == "csv":
        print_csv(bars)
        return
    if bars.empty:
        console.print(
            f"no bars in {a.db.describe()} yet: try `factory data import --sample` "
            "(or `--sample sp500-20`)"
        )
        return
    for frame in (bars, aux):
        for col in ("first", "last"):
            if col in frame:
                frame[col] = pd.to_datetime(frame[col])
    print_table(bars, title=f"bars in {a.db.describe()}", formats={"bars": "d"})
    if not aux.empty:
        print_table(aux, title="auxiliary series", formats={"assets": "d", "values": "d"})


def attach_synthetic_aux(
    a: App, *, seed: int, extras: tuple[str, ...]
) -> tuple[str, list[ImportResult]]:
    """Store synthetic sentiment / on-chain series for the stored universe."""
    import numpy as np

    from factory.data.importer import import_frame
    from factory.data.synth import synth_aux_for
    from factory.storage.bars import load_market_data

    data = load_market_data(a.db)
    panel = data.panel()
    close = panel["close"].to_numpy()
    sentiment, onchain = synth_aux_for(
        panel.index,
        panel.assets,
        close,
        panel["volume"].to_numpy() if "volume" in panel else np.full_like(close, np.nan),
        seed=seed,
        extras=extras,
    )
    source = f"synthetic {'+'.join(extras)} series (seed={seed}) attached to stored bars"
    results = []
    if sentiment is not None:
        results.append(import_frame(a.db, sentiment, kind="sentiment", source=source, at=a.now()))
    if onchain is not None:
        results.append(import_frame(a.db, onchain, kind="onchain", source=source, at=a.now()))
    return source, results


def _timestamp(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        pd.Timestamp(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date or date-time (YYYY-MM-DD[THH:MM:SS], UTC)"
        ) from None
    return value


@app.command()
def retract(
    ctx: typer.Context,
    asset: Annotated[str, typer.Option(help="the asset whose bars are retracted")],
    reason: Annotated[str, typer.Option(help="why (required; recorded in the audit event)")] = "",
    start: Annotated[
        str | None,
        typer.Option(
            help="first bar to retract (UTC, inclusive; default: the first)", callback=_timestamp
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            help="last bar to retract (UTC, inclusive; default: the last)", callback=_timestamp
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Remove a wrongly imported range of bars, with an audit event (who, when, what,
    why, how many). Evaluations that read the range are marked stale and re-evaluated
    from their first bar by the next `factory evaluate` (see docs/operations.md)."""
    import getpass

    from factory.cli import make_app
    from factory.storage.retract import (
        RetractionRefused,
        RetractRange,
        preview_retraction,
        retract_bars,
        validate_reason,
    )

    try:
        why = validate_reason(reason)
    except RetractionRefused as exc:
        raise typer.BadParameter(str(exc), param_hint="--reason") from None
    rng = RetractRange(
        asset,
        None if start is None else pd.Timestamp(start).tz_localize(None).to_pydatetime(),
        None if end is None else pd.Timestamp(end).tz_localize(None).to_pydatetime(),
    )
    a = make_app(ctx)
    if not yes:
        preview = preview_retraction(a.db, rng)
        console.print(
            f"would retract {preview.bars} bar(s) of {rng.describe()} from {a.db.describe()} "
            f"(imports {', '.join(map(str, preview.import_ids)) or '-'}); "
            f"{len(preview.stale_configs)} evaluation(s) would be marked stale"
        )
        if not typer.confirm("retract them?", default=False):
            raise typer.Exit(1)
    try:
        out = retract_bars(a.db, rng, reason=why, who=getpass.getuser(), at=a.now())
    except RetractionRefused as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    p = out.preview
    payload = {
        "asset": rng.asset,
        "bars_removed": p.bars,
        "first_ts": None if p.first_ts is None else p.first_ts.isoformat(),
        "last_ts": None if p.last_ts is None else p.last_ts.isoformat(),
        "import_ids": list(p.import_ids),
        "stale_configs": list(p.stale_configs),
        "event_id": out.event_id,
        "retraction_id": out.retraction_id,
        "database": a.db.describe(),
    }
    if format == "json":
        print_json(payload)
        return
    console.print(
        f"retracted {p.bars} bar(s) of {rng.asset} ({p.first_ts} .. {p.last_ts}); "
        f"audit event {out.event_id}"
    )
    if p.stale_configs:
        console.print(
            f"{len(p.stale_configs)} evaluation(s) read these bars and are marked stale: "
            "import the corrected bars if any, then run `factory evaluate` (re-evaluates "
            "them from their first bar) and `factory rate`; until then their old records "
            "are still rated"
        )
