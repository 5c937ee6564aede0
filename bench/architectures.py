"""Benchmark of the zoo: seconds per fit and per predict of every architecture, and what
warm starts save, in one run on the embedded data (S&P 500 + NASDAQ daily bars).

Run:  .venv/bin/python bench/architectures.py [--family F] [--arch NAME ...]
                                               [--start 2012-01-01] [--retrain-every 252]

Every architecture is evaluated walk-forward twice on the same bars, with its default
parameters on the `ohlcv` feature set (its own smallest lookback when it restricts them,
else 14): once with warm starts off (every block refitted cold) and, when the
architecture supports them, once with warm starts on (each block continues from the
previous block's model). Prints per architecture: refits, seconds per fit and per predicted
bar (cold), the warm run's fit seconds over the cold run's (the first block is cold in
both runs, so the ratio understates the saving per refit; both totals are printed), and
the Sharpe of both runs. Then the per-family ratio (sum of warm fit seconds / sum of cold)
against the goal of issue 10 (warm refit <= 0.3 x cold). One compute thread, like a Ray
worker.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from architectures import registry
from factory.data.market import MarketData
from factory.data.sample import sample_frame
from factory.evaluation.engine import EvalParams, EvaluationResult, evaluate_config
from factory.evaluation.inputs import build_inputs
from factory.plan import ModelConfig
from features.registry import get_feature_set
from scheduler.backends import single_thread


def _sharpe(net: np.ndarray) -> float:
    net = net[np.isfinite(net)]
    sd = float(np.std(net, ddof=1)) if len(net) > 1 else 0.0
    return float(np.mean(net) / sd * np.sqrt(252)) if sd > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--family", default=None)
    ap.add_argument("--arch", nargs="*", default=None)
    ap.add_argument("--start", default="2012-01-01", help="first predicted bar")
    ap.add_argument("--retrain-every", type=int, default=252)
    args = ap.parse_args()
    single_thread()

    bars = sample_frame().set_index(["timestamp", "asset"]).sort_index()
    data = MarketData(bars.astype("float64"))
    fs = get_feature_set("ohlcv")
    inputs = build_inputs(data, fs)
    base = EvalParams(
        min_train=1008,
        retrain_every=args.retrain_every,
        start=datetime.fromisoformat(args.start),
        warm_start=False,
    )
    specs = [
        s
        for s in registry.available()
        if (args.family is None or s.family == args.family)
        and (not args.arch or s.name in args.arch)
        and (s.tags.feature_sets is None or "ohlcv" in s.tags.feature_sets)
    ]
    print(
        f"{len(specs)} architectures on {len(data.assets)} assets x {len(data.timestamps)} bars, "
        f"predicting from {args.start}, refit every {args.retrain_every} bars, one thread\n"
    )
    print(
        f"{'architecture':<14}{'family':<12}{'refits':>6}{'fit s':>9}{'pred ms/bar':>12}"
        f"{'cold fit s':>11}{'warm fit s':>11}{'warm/cold':>10}{'Sharpe cold':>12}{'warm':>7}"
    )
    family_cold: dict[str, float] = defaultdict(float)
    family_warm: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    for spec in specs:
        lookback = 14 if spec.tags.lookbacks is None else min(spec.tags.lookbacks)
        config = ModelConfig(
            spec.name,
            spec.version,
            spec.family,
            lookback,
            fs.name,
            fs.version,
            tuple(sorted(spec.default_params.items())),
        )
        cold = evaluate_config(config, spec, inputs, base)
        if cold.status != "done":
            print(f"{spec.name:<14}{spec.family:<12} failed: {cold.error}")
            continue
        warm: EvaluationResult | None = None
        if spec.tags.supports_warm_start:
            warm = evaluate_config(config, spec, inputs, replace(base, warm_start=True))
        refits = max(cold.n_retrains, 1)
        bars_predicted = max(len(cold.return_ts), 1)
        line = (
            f"{spec.name:<14}{spec.family:<12}{cold.n_retrains:>6}"
            f"{cold.fit_seconds / refits:>9.2f}{1000 * cold.predict_seconds / bars_predicted:>12.2f}"
            f"{cold.fit_seconds:>11.1f}"
        )
        if warm is not None and warm.status == "done":
            ratio = warm.fit_seconds / cold.fit_seconds if cold.fit_seconds > 0 else float("nan")
            family_cold[spec.family] += cold.fit_seconds
            family_warm[spec.family] += warm.fit_seconds
            line += f"{warm.fit_seconds:>11.1f}{ratio:>10.2f}{_sharpe(cold.net):>12.2f}"
            line += f"{_sharpe(warm.net):>7.2f}"
        else:
            line += f"{'-':>11}{'-':>10}{_sharpe(cold.net):>12.2f}{'-':>7}"
        print(line, flush=True)
    print(f"\nwall {time.perf_counter() - started:.0f} s")
    print(
        "\nwarm-start fit time / cold fit time, per family (goal <= 0.3; first block cold in both):"
    )
    for fam in sorted(family_cold):
        cold_s, warm_s = family_cold[fam], family_warm[fam]
        print(f"   {fam:<12} {warm_s:8.1f} s / {cold_s:8.1f} s = {warm_s / cold_s:.2f}")


if __name__ == "__main__":
    main()
