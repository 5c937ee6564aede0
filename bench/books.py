"""Per book, on the close-only ``sp500-20`` sample: how many configs are eligible, and
what the live set did out of sample over the last years next to the equal-weight universe.

Run:  .venv/bin/python bench/books.py [--start 2010-01-01] [--last-years 3]
                                      [--backend ray|serial] [--workers 2] [--dir DIR]

For each ``[portfolio] book`` (timeseries, cross_sectional, long_only) the bench builds a
fresh database from the sample's bars since ``--start`` (closes only, as `factory data
import --sample sp500-20` stores them), evaluates one small plan (ridge, logistic,
lightgbm x momentum, cross_asset, volatility x lookback 30, one param combination = 9
configs; the book changes what every config's returns mean, so each book is evaluated
on its own), rates and promotes once at the last bar, and replays the factory
(`factory simulate`) over the last ``--last-years`` years. It prints one table:

* ``configs``: configs evaluated; ``eligible``: configs passing every gate at the last bar
  (``top_gate``: the gate most of the others fail first, ``best_sharpe``: the best
  annualised Sharpe since inception as rated, i.e. of the returns net of beta x the
  equal-weight universe under the default ``[rating] benchmark = "universe"``); ``live``: the live set promoted at the
  last bar;
* ``live_*``: the replayed live set (point-in-time promotion and rebalance, out of sample,
  after costs) over the last years: annual return, Sharpe, max drawdown, mean live-set
  size, bars in cash;
* ``ew_*``: the equal-weight universe (``buy_and_hold`` of the simulation: every asset,
  equally weighted, rebalanced to equal, same costs) over the same bars.

Time is bounded by the plan (9 configs x 3 books) and ``--start``; the total and each
book's wall time are printed. Run again with the same ``--dir`` to resume: evaluated
configs are skipped, so only the rating, promotion and replay are redone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from factory import catalog
from factory.app import App
from factory.clock import FakeClock
from factory.data.importer import import_frame
from factory.data.sample import get_sample, load_sample
from factory.jobs import compute_ratings, promote_job
from factory.review import simulate
from factory.settings import load_settings
from factory.storage.bars import load_market_data
from scheduler.backends import make_backend
from scheduler.sweep import run_sweep

BOOKS = ("timeseries", "cross_sectional", "long_only")
PLAN: dict[str, Any] = {
    "plan.architectures": ["ridge", "logistic", "lightgbm"],
    "plan.feature_sets": ["momentum", "cross_asset", "volatility"],
    "plan.lookbacks": [30],
    "plan.max_grid": 1,
    "evaluation.min_train": 504,
    "evaluation.retrain_every": 252,
}


def one_book(book: str, bars: pd.DataFrame, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    d = root / book
    d.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        None,
        db_url=f"sqlite:///{d / 'factory.db'}",
        artifacts=str(d / "artifacts"),
        output_dir=str(d / "out"),
        cache_dir=str(root / "cache"),  # features do not depend on the book: shared
        **{
            **PLAN,
            "portfolio.book": book,
        },
    )
    last = pd.Timestamp(bars["timestamp"].max()).to_pydatetime()
    clock = FakeClock(datetime(last.year, last.month, last.day, 23, 0))
    app = App(settings, clock=clock)
    sample = get_sample("sp500-20")
    import_frame(app.db, bars, kind="bars", source=sample.source, at=app.now(), close_only=True)
    data = load_market_data(app.db)
    configs = catalog.plan(settings, catalog.profile(data)).configs
    backend = make_backend(args.backend, workers=args.workers)
    try:
        report = run_sweep(app.db, settings, data, configs, backend, clock, progress=False)
    finally:
        backend.shutdown()
    ratings = compute_ratings(app)
    cycle = promote_job(app).cycle
    since = pd.Timestamp(last) - pd.DateOffset(years=args.last_years)
    payload = simulate(app, since.to_pydatetime(), None).payload
    app.close()
    live, ew = payload["strategies"]["factory"], payload["strategies"]["buy_and_hold"]
    return {
        "book": book,
        "configs": payload["configs_evaluated"],  # with a stored record (a rerun resumes)
        "failed": report.failed,
        "eligible": int(ratings.table["eligible"].sum()),
        # why the others are not: the most common first failed gate, and the best Sharpe
        "top_gate": _top_gate(ratings.table),
        "best_sharpe": float(ratings.table["sharpe_all"].max()),
        "live": len(cycle.active),
        "live_return": live["annual_return"],
        "live_sharpe": live["sharpe"],
        "live_maxdd": live["max_drawdown"],
        "live_mean_size": payload["mean_active"],
        "bars_in_cash": payload["bars_in_cash"],
        "ew_return": ew["annual_return"],
        "ew_sharpe": ew["sharpe"],
        "ew_maxdd": ew["max_drawdown"],
        "period": f"{pd.Timestamp(payload['start']):%Y-%m-%d}..{pd.Timestamp(payload['end']):%Y-%m-%d}",
        "seconds": round(time.perf_counter() - started, 1),
    }


def _top_gate(table: pd.DataFrame) -> str:
    gates = table.loc[~table["eligible"].astype(bool), "gate"].astype(str)
    gates = gates[gates != ""].str.extract(r"^([^0-9]*)")[0].str.strip()  # name, no figures
    if gates.empty:
        return ""
    name, count = gates.value_counts().index[0], int(gates.value_counts().iloc[0])
    return f"{name} ({count})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--start", default="2010-01-01", help="first bar of the sample to import")
    p.add_argument("--last-years", type=int, default=3, help="years replayed at the end")
    p.add_argument("--backend", default="serial", choices=("serial", "ray"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--dir", type=Path, default=None, help="where the databases go (default: a temp dir)"
    )
    p.add_argument("--books", default=",".join(BOOKS), help="comma list of books")
    args = p.parse_args()
    started = time.perf_counter()
    frame = load_sample("sp500-20")
    bars = frame[frame["timestamp"] >= pd.Timestamp(args.start)].reset_index(drop=True)
    n_assets, n_bars = bars["asset"].nunique(), bars["timestamp"].nunique()
    print(
        f"sp500-20 (closes only) since {args.start}: {n_assets} assets x {n_bars} bars; "
        f"plan {PLAN['plan.architectures']} x {PLAN['plan.feature_sets']} x lookback 30; "
        f"backend {args.backend} ({args.workers} workers)",
        flush=True,
    )
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-books-"))
    rows = []
    for book in args.books.split(","):
        row = one_book(book.strip(), bars, root, args)
        print(f"  {book}: {row['seconds']} s", flush=True)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("book")
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
        print(table)
    print(f"total {time.perf_counter() - started:.0f} s; databases in {root}")


if __name__ == "__main__":
    main()
