"""``factory init|configs|evaluate|rate|promote|rebalance|leaderboard|prune|run``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from factory.cli.output import (
    Format,
    Output,
    console,
    err_console,
    fmt,
    plain,
    print_csv,
    print_json,
    print_table,
    records,
    stdout_kept_for,
)
from factory.settings import SchedulerSettings, SettingsError


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(configs)
    app.command()(evaluate)
    app.command()(rate)
    app.command()(promote)
    app.command()(rebalance)
    app.command()(leaderboard)
    app.command()(prune)
    app.command()(run)


def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="settings file to write")] = Path("factory.toml"),
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write an annotated settings file with every default and create the database."""
    from factory.cli import make_app
    from factory.settings import default_toml

    obj = ctx.find_root().obj
    if not path.parent.is_dir():
        raise SettingsError(
            f"cannot write {path}: directory {path.parent} does not exist (create it first)"
        )
    if path.exists() and not force:
        console.print(f"{path} exists; keeping it (use --force to overwrite)")
    else:
        text = default_toml()
        if obj.get("db"):  # --db given: the file records it
            text = text.replace(
                'db_url = "sqlite:///factory.db"', f"db_url = {json.dumps(obj['db'])}", 1
            )
        path.write_text(text)
        console.print(f"wrote {path}")
    obj["config"] = path  # the database is the one the new file names
    a = make_app(ctx)
    _ = a.db
    console.print(f"database ready: {a.db.describe()}")


def _expansion(ctx: typer.Context, *, with_data: bool = True):  # type: ignore[no-untyped-def]
    from factory import catalog
    from factory.cli import inspect_app
    from factory.storage.bars import load_market_data
    from factory.storage.database import DatabaseMissing

    a = inspect_app(ctx)
    data = None
    if with_data:
        try:
            data = load_market_data(a.db, assets=a.settings.data.assets or None)
        except LookupError:
            data = None
        except DatabaseMissing as exc:  # the plan needs no database; say why data is absent
            err_console.print(f"note: {exc}; expanding without data", highlight=False)
            data = None
    profile = catalog.profile(data) if data is not None else None
    return a, data, catalog.plan(a.settings, profile)


def configs(
    ctx: typer.Context,
    explain: Annotated[
        bool, typer.Option("--explain", help="print the funnel: dimensions, exclusions and reasons")
    ] = False,
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Expand the plan into configs (against the stored data, if any)."""
    _, data, exp = _expansion(ctx)
    rows = [
        {
            "config_id": c.config_id,
            "architecture": c.architecture,
            "arch_version": c.arch_version,
            "family": c.family,
            "feature_set": c.feature_set,
            "lookback": c.lookback,
            "feature_selection": c.feature_selection,
            "params": c.param_dict,
        }
        for c in exp.configs
    ]
    exclusions = [{"rule": e.rule, "reason": e.reason, "count": e.count} for e in exp.exclusions]
    if format == "json":
        print_json(
            {
                "candidates": exp.candidates,
                "dimensions": dict(exp.dimensions),
                "exclusions": exclusions,
                "total": len(exp.configs),
                "by_architecture": exp.by_architecture(),
                "by_feature_set": exp.by_feature_set(),
                "data": None
                if data is None
                else {"assets": len(data.assets), "bars": len(data.timestamps)},
                "configs": rows,
            }
        )
        return
    if format == "csv":
        frame = pd.DataFrame(rows)
        frame["params"] = [json.dumps(p, sort_keys=True) for p in frame["params"]]
        print_csv(frame)
        return
    if explain:
        d = exp.dimensions
        console.print(
            f"{d['architectures']} architectures x {d['feature_sets']} feature sets x "
            f"{d['lookbacks']} lookbacks x params x {d['selections']} selections "
            f"= {exp.candidates} candidates"
        )
        if data is None:
            console.print("no data stored: data-feasibility rules not applied")
        for e in sorted(exp.exclusions, key=lambda e: (e.rule, -e.count)):
            console.print(f"  - {e.count:>4}  {e.rule}: {e.reason}")
        console.print(f"= {len(exp.configs)} configs")
        console.print(
            "by architecture: "
            + ", ".join(f"{k} {v}" for k, v in sorted(exp.by_architecture().items()))
        )
        console.print(
            "by feature set:  "
            + ", ".join(f"{k} {v}" for k, v in sorted(exp.by_feature_set().items()))
        )
        return
    frame = pd.DataFrame(rows)
    if frame.empty:
        console.print("the plan yields no configs")
        return
    frame["params"] = [" ".join(f"{k}={v}" for k, v in p.items()) for p in frame["params"]]
    print_table(
        frame,
        columns=[
            "config_id",
            "family",
            "architecture",
            "feature_set",
            "lookback",
            "feature_selection",
            "params",
        ],
        formats={"lookback": "d"},
        title=f"{len(frame)} configs",
    )


def evaluate(
    ctx: typer.Context,
    backend: Annotated[str | None, typer.Option(help="ray or serial (default: settings)")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="parallel workers (default: settings)")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="join this Ray cluster instead of starting one")
    ] = None,
    arch: Annotated[
        list[str] | None, typer.Option("--arch", help="only these architectures")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="evaluate at most this many configs")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option(help="retry failed configs now (also those given up on)")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="evaluate from scratch: the configs' records are replaced (the old ones stay counted as trials)"
        ),
    ] = False,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Bring every planned config up to the last bar: new configs from their first bar,
    the others incrementally (only new bars; refits when a block starts)."""
    from factory import catalog
    from factory.cli import make_app
    from factory.storage.bars import load_market_data
    from scheduler.backends import make_backend
    from scheduler.sweep import run_sweep

    a = make_app(
        ctx,
        **{
            "scheduler.backend": backend,
            "scheduler.workers": workers,
            "scheduler.address": address,
        },
    )
    data = load_market_data(a.db, assets=a.settings.data.assets or None)
    exp = catalog.plan(a.settings, catalog.profile(data))
    if arch:
        from architectures import registry

        for name in arch:
            registry.get(name)  # unknown name -> KeyError with "did you mean"
    from factory.refine.pool import pool_configs

    # The pool: the plan's configs and those bred by `factory tune`, none retired.
    pool = pool_configs(a.db, exp.configs)
    chosen = [c for c in pool if not arch or c.architecture in arch]
    if limit:
        chosen = chosen[:limit]
    s = a.settings.scheduler
    if format != "json":
        console.print(
            f"{len(chosen)} configs on {len(data.assets)} assets x {len(data.timestamps)} bars; "
            f"backend {_where(s)}; database {a.db.describe()}"
        )
    with stdout_kept_for(format == "json"):
        be = make_backend(s.backend, workers=s.workers, address=s.address)
        try:
            report = run_sweep(
                a.db,
                a.settings,
                data,
                chosen,
                be,
                a.clock,
                retry_failed=retry_failed,
                force=force,
                progress=format != "json",
            )
        finally:
            be.shutdown()
    payload = {
        "evaluated": report.evaluated,
        "failed": report.failed,
        "skipped": report.skipped,
        "skipped_failed": report.skipped_failed,
        "work": report.work,
        "given_up": list(report.given_up),
        "seconds": round(report.seconds, 3),
        "failures": [{"config_id": c, "error": e} for c, e in report.failures],
    }
    if format == "json":
        print_json(payload)
        return
    w = report.work
    console.print(
        f"evaluated {report.evaluated} (new {w.get('cold', 0)}, refitted {w.get('refit', 0)}, "
        f"predict-only {w.get('predict', 0)}), failed {report.failed}, "
        f"skipped {report.skipped - report.skipped_failed} (up to date)"
        + (
            f" and {report.skipped_failed} (failed before and not due for a retry; "
            "--retry-failed retries now)"
            if report.skipped_failed
            else ""
        )
        + f" in {report.seconds:.1f} s"
    )
    for cid, err in report.failures:
        console.print(f"  failed {cid}: {err}", highlight=False)
    for cid in report.given_up:
        console.print(
            f"  gave up on {cid} after {a.settings.evaluation.max_attempts} failed attempts",
            highlight=False,
        )


def _where(s: SchedulerSettings) -> str:
    if s.backend == "serial":
        return "serial (in-process)"
    if s.address:
        return f"ray ({s.address})"
    return f"ray ({s.workers} local worker{'' if s.workers == 1 else 's'})"


def rate(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option(help="recompute this 5-minute snapshot if it exists")
    ] = False,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Rate every evaluated config and store a snapshot (one per 5 minutes)."""
    from factory.cli import make_app
    from factory.jobs import rate_job

    a = make_app(ctx)
    out = rate_job(a, force=force)
    snap = out.snapshot
    payload = {"snapshot": snap.__dict__, "reused": out.reused}
    if format == "json":
        print_json(payload)
        return
    verb = "reused" if out.reused else "stored"
    console.print(
        f"{verb} rating snapshot {snap.time_key}: {snap.n_configs} configs rated as of {fmt(snap.as_of)}; "
        f"effective trials {fmt(snap.n_trials_effective, '.1f')}, PBO {fmt(snap.pbo, '.2f')}"
    )


def promote(
    ctx: typer.Context,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Run today's promotion cycle (once per UTC day; a second run shows the first)."""
    from factory.cli import make_app
    from factory.jobs import promote_job

    a = make_app(ctx)
    out = promote_job(a)
    c = out.cycle
    if format == "json":
        print_json(
            {
                "cycle": {
                    "time_key": c.time_key,
                    "at": c.at,
                    "active": list(c.active),
                    "note": c.note,
                },
                "decisions": records(out.decisions.drop(columns=["cycle_id"])),
                "reused": out.reused,
            }
        )
        return
    verb = "existing" if out.reused else "new"
    console.print(f"{verb} promotion cycle {c.time_key}: {len(c.active)} active. {c.note}")
    d = out.decisions
    if not d.empty:
        print_table(
            d[d["action"] != "skipped"],
            columns=["action", "config_id", "rank", "score", "reason"],
            formats={"rank": ".0f"},
        )


def rebalance(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option(help="recompute the rebalance of this bar date")] = False,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Target weights for the latest bar from the live set's signals (table + CSV export)."""
    from factory.cli import make_app
    from factory.jobs import rebalance_job

    a = make_app(ctx)
    out = rebalance_job(a, force=force)
    r = out.rebalance
    if format == "json":
        print_json({"rebalance": r.__dict__, "reused": out.reused})
        return
    verb = "existing" if out.reused else "new"
    console.print(
        f"{verb} rebalance for {r.time_key}: {r.n_active} configs voted, gross {r.gross:.3f}"
    )
    if r.note:
        console.print(f"note: {r.note}")
    if r.weights:
        print_table(
            pd.DataFrame({"asset": list(r.weights), "weight": list(r.weights.values())}),
            formats={"weight": "+.4f"},
        )
    console.print(f"export: {r.export_path}")


def leaderboard(
    ctx: typer.Context,
    top: Annotated[int, typer.Option(min=1, help="rows to show")] = 20,
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """The latest rating snapshot: rank, metrics, deflated Sharpe, eligibility, status."""
    from factory.cli import inspect_app
    from factory.leaderboard import COLUMNS, leaderboard, population_caption, short_params
    from factory.portfolio.live import book_summary

    a = inspect_app(ctx)
    lb = leaderboard(a.db)
    if lb is None:
        raise LookupError("no rating snapshot yet: run `factory rate`")
    book = book_summary(a)
    table = lb.table.head(top).reset_index()
    cols = [c for c in COLUMNS if c in table.columns]
    if format == "json":
        # Every stored metric, the leaderboard columns first.
        ordered = cols + [c for c in table.columns if c not in cols]
        print_json(
            {
                "snapshot": plain(lb.snapshot.__dict__),
                "active": list(lb.active),
                "rows": records(table[ordered]),
                "live_book": None if book is None else plain(book.__dict__),
            }
        )
        return
    if format == "csv":
        flat = table[cols].copy()
        flat["params"] = [json.dumps(p, sort_keys=True) for p in flat["params"]]
        flat["lineage"] = [
            "" if item is None else json.dumps(item, sort_keys=True) for item in flat["lineage"]
        ]
        print_csv(flat)
        return
    table["params"] = [short_params(p) for p in table["params"]]
    s = lb.snapshot
    caption = (
        f"snapshot {s.time_key}, as of {fmt(s.as_of)}; {s.n_configs} configs, effective trials "
        f"{fmt(s.n_trials_effective, '.1f')}. {population_caption(s)}. Sharpe annualised "
        "(sharpe_raw: before removing beta); DSR = P(true Sharpe > 0) after deflating for trials."
    )
    print_table(
        table,
        columns=[c for c in cols if c not in ("params", "n_obs", "eligible", "lineage")],
        formats={
            "rank": "d",
            "lookback": "d",
            "sharpe_all": "+.2f",
            "sharpe_raw": "+.2f",
            "beta": "+.2f",
            "sharpe_90": "+.2f",
            "max_drawdown": ".1%",
            "win_rate": ".1%",
            "dsr": ".2f",
            "dsr_trials": "d",
            "score": ".3f",
        },
        title=f"leaderboard (top {min(top, len(lb.table))} of {len(lb.table)})",
        caption=caption,
    )
    if book is not None:
        console.print(
            f"live book (what the published rebalances earned, after costs): {book.bars} bar{'s' if book.bars != 1 else ''} "
            f"{book.first:%Y-%m-%d} to {book.last:%Y-%m-%d}, total {book.total_return:+.2%}, "
            f"annualised {book.annual_return:+.2%}, Sharpe {fmt(book.sharpe, '+.2f')}, "
            f"max drawdown {book.max_drawdown:.2%}, turnover {book.mean_turnover:.2f}/bar, "
            f"costs {book.total_cost:.2%}"
        )


def prune(
    ctx: typer.Context, format: Annotated[Output, typer.Option("--format")] = Output.table
) -> None:
    """Verify every stored artifact, then apply retention to old artifacts, old rating
    snapshots and the feature cache."""
    from factory.cli import make_app
    from factory.jobs import prune_job

    a = make_app(ctx)
    out = prune_job(a)
    if format == "json":
        print_json(out.__dict__)
        return
    console.print(
        f"pruned {out.deleted} artifacts ({out.kept_active} live configs untouched), "
        f"{out.snapshots} rating snapshots, {out.cache_files} feature cache files"
    )
    if out.problems:
        err_console.print(
            f"warning: {out.problems} stored artifact(s) failed verification (recorded as "
            "events): run `factory artifacts verify` for the list"
        )
    if out.refused:
        err_console.print(
            f"warning: {out.refused} artifact(s) not deleted: their recorded path leads "
            "outside the artifact root (recorded as events)"
        )


def run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="run the due jobs once and exit")] = False,
    interval: Annotated[float, typer.Option(min=1.0, help="seconds between ticks")] = 60.0,
    backend: Annotated[str | None, typer.Option(help="ray or serial (default: settings)")] = None,
    workers: Annotated[int | None, typer.Option(min=1)] = None,
    address: Annotated[str | None, typer.Option(help="join this Ray cluster")] = None,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """The autonomous loop: evaluate, rate (5 min), promote (daily), rebalance, prune.

    Each job runs once per time key and records its run: stop and restart at any time.
    """
    from datetime import datetime

    from factory.cli import make_app
    from scheduler.backends import make_backend
    from scheduler.daemon import JobResult, run_forever, tick

    a = make_app(
        ctx,
        **{
            "scheduler.backend": backend,
            "scheduler.workers": workers,
            "scheduler.address": address,
        },
    )
    s = a.settings.scheduler
    with stdout_kept_for(format == "json") as out:
        be = make_backend(s.backend, workers=s.workers, address=s.address)

        def show(now: datetime, results: list[JobResult]) -> None:
            if format == "json":  # one JSON object per line (JSON Lines), on the real stdout
                line = {"at": now, "jobs": [r.__dict__ for r in results]}
                out.write(json.dumps(plain(line)) + "\n")
                out.flush()
                return
            if not results:
                console.print(f"{now:%Y-%m-%d %H:%M:%S} nothing due")
            for r in results:
                console.print(
                    f"{now:%Y-%m-%d %H:%M:%S} {r.status:<7} {r.job:<9} {r.time_key}  {r.detail}"
                )

        try:
            if once:
                show(a.now(), tick(a, be, progress=format != "json"))
            else:
                err_console.print(
                    f"factory run: ticking every {interval:.0f} s on {a.db.describe()} "
                    "(Ctrl-C stops)"
                )
                run_forever(a, be, interval_s=interval, on_tick=show)
        finally:
            be.shutdown()
