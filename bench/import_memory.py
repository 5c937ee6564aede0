"""Benchmark: peak memory and time of `factory data import` on a large long-form CSV.

Run from the repository root::

    .venv/bin/python bench/import_memory.py                 # the issue's shape: 3.4 M rows
    .venv/bin/python bench/import_memory.py --rows 200000   # smaller

It writes a seeded synthetic CSV of the issue's shape (500 assets, one row per asset and
bar, sorted by timestamp then asset; 3.4 M rows is about 230 MB), then imports it twice
into a fresh SQLite database, each time in a child process, and prints for each import the
child's peak resident set size (the child reports its own
``resource.getrusage(RUSAGE_SELF).ru_maxrss``), its wall time and its CPU time (user +
system, the figure to compare on a shared machine; the CPU time includes starting Python
and the imports, about 1-2 s). The second import stores no new
row (every bar is already there: the conflict check does all the work). The goal for the
full file is <= 1 GB peak for both.

``--code DIR`` runs the imports with another checkout's ``factory`` package (e.g. an
exported older commit) to compare.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, resource, sys, time
from datetime import datetime
from pathlib import Path
from factory.data.importer import import_path
from factory.storage.database import Database
db = Database(sys.argv[1])
t0 = time.perf_counter()
res = import_path(db, Path(sys.argv[2]), at=datetime(2100, 1, 1))
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
peak_kb = usage.ru_maxrss
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"rows_in": res.rows_in, "rows_added": res.rows_added, "wall_s": wall,
                  "cpu_s": cpu, "peak_mb": peak_kb / 1024}))
"""


def write_csv(path: Path, rows: int, assets: int, seed: int = 0) -> None:
    """Seeded random walks, written in blocks so that the generator stays small too."""
    rng = np.random.default_rng(seed)
    bars = -(-rows // assets)
    names = np.array([f"A{i:03d}" for i in range(assets)])
    close = np.full(assets, 100.0)
    start = np.datetime64("2000-01-03T00:00:00")
    block = max(1, 20_000 // assets)
    written = 0
    with path.open("w") as fh:
        fh.write("timestamp,asset,open,high,low,close,volume\n")
        for b0 in range(0, bars, block):
            n = min(block, bars - b0)
            ret = rng.normal(0.0, 0.01, size=(n, assets))
            closes = close * np.exp(np.cumsum(ret, axis=0))
            opens = np.vstack([close, closes[:-1]])
            close = closes[-1]
            spread = np.abs(rng.normal(0.0, 0.005, size=(n, assets)))
            highs = np.maximum(opens, closes) * (1 + spread)
            lows = np.minimum(opens, closes) * (1 - spread)
            vol = rng.integers(1_000, 1_000_000, size=(n, assets))
            ts = start + np.arange(b0, b0 + n).astype("timedelta64[h]")
            lines = []
            for i in range(n):
                stamp = str(ts[i])
                for j in range(assets):
                    if written >= rows:
                        break
                    lines.append(
                        f"{stamp},{names[j]},{opens[i, j]:.6f},{highs[i, j]:.6f},"
                        f"{lows[i, j]:.6f},{closes[i, j]:.6f},{vol[i, j]}\n"
                    )
                    written += 1
            fh.writelines(lines)


def measure(code: Path, db_url: str, csv: Path) -> dict[str, float]:
    """One import in a fresh child process; the child reports its own peak RSS
    (``getrusage(RUSAGE_SELF).ru_maxrss``, kilobytes on Linux) and wall time."""
    import os

    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, db_url, str(csv)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"import failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3_400_000)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--code", type=Path, default=_ROOT, help="checkout whose code runs")
    parser.add_argument("--keep", type=Path, default=None, help="directory to keep files in")
    parser.add_argument(
        "--shuffle",
        action="store_true",
        help="shuffle the data rows (the conflict check then looks keys up instead of ranges)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        csv = work / "bars.csv"
        t0 = time.perf_counter()
        write_csv(csv, args.rows, args.assets)
        if args.shuffle:
            header, *lines = csv.read_text().splitlines(keepends=True)
            order = np.random.default_rng(1).permutation(len(lines))
            csv.write_text(header + "".join(lines[i] for i in order))
        size_mb = csv.stat().st_size / 1e6
        print(
            f"wrote {args.rows:,} rows x {args.assets} assets ({size_mb:.0f} MB"
            f"{', shuffled' if args.shuffle else ''}) "
            f"in {time.perf_counter() - t0:.0f} s; code from {args.code}"
        )
        for label in ("first import", "re-import"):
            db = work / "bench.db"
            if label == "first import":
                for leftover in work.glob("bench.db*"):
                    leftover.unlink()
            r = measure(args.code, f"sqlite:///{db}", csv)
            print(
                f"{label:>13}: {r['rows_in']:,} rows in, {r['rows_added']:,} new; "
                f"{r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU; peak RSS {r['peak_mb']:.0f} MB"
            )


if __name__ == "__main__":
    main()
