"""Grid vs random vs TPE on the same data and trial budget (`factory tune`'s samplers).

Run:  .venv/bin/python bench/search.py [--arch lightgbm] [--assets 5] [--bars 900]
                                       [--seed 0]

One run, one machine, one data set: a synthetic planted-signal universe, cut at the
tuning boundary (60 % of history) exactly as `factory tune` cuts it, and three in-memory
Optuna studies of the same walk-forward objective (`factory.refine.objective`: the
production engine, costs included, median pruning on 4 segments):

* grid   — Optuna's GridSampler over a 3 x 3 x 3 grid of lightgbm's ``num_leaves``,
  ``learning_rate`` and ``min_child_samples`` (27 points: the trial budget of every
  study), the other parameters at their defaults;
* random — RandomSampler over the architecture's ``search_space`` (8 parameters);
* tpe    — TPESampler over the same ``search_space``.

Printed per sampler: the best walk-forward Sharpe reached, the trial at which it first
reached the grid's best (``-`` if never), complete / pruned trials, and seconds. Scores
are annualised Sharpe ratios on the tuning period only (no bar at or after the boundary).
A single seed on one synthetic set is an anecdote, not a law: use ``--seed`` to see the
spread.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # before bench/architectures.py

import optuna
from optuna.trial import TrialState

from architectures import registry
from architectures.search import Choice
from factory import catalog
from factory.data.market import MarketData
from factory.data.synth import synth_universe
from factory.evaluation.inputs import build_inputs
from factory.refine.objective import StudyTarget, WalkForwardObjective, before, tuning_boundary
from factory.refine.space import make_sampler, study_space
from factory.refine.study import pruner
from factory.settings import load_settings
from features.registry import get_feature_set

GRIDS = {
    "lightgbm": {
        "num_leaves": (7, 31, 127),
        "learning_rate": (0.01, 0.05, 0.2),
        "min_child_samples": (20, 100, 400),
    },
    "ridge": {"alpha": tuple(float(10**e) for e in range(-3, 4))},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="lightgbm", choices=sorted(GRIDS))
    ap.add_argument("--assets", type=int, default=5)
    ap.add_argument("--bars", type=int, default=900)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lookback", type=int, default=8)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    settings = load_settings(None, **{"evaluation.min_train": 200, "evaluation.retrain_every": 40})
    params = catalog.eval_params(settings)
    u = synth_universe(args.assets, args.bars, seed=args.seed, signal="planted")
    data = MarketData.from_long(u.bars)
    boundary = tuning_boundary(data.timestamps, tune_end=None, fraction=0.6)
    fs = get_feature_set("ohlcv")
    inputs = build_inputs(before(data, boundary), fs)
    grid = GRIDS[args.arch]
    budget = 1
    for values in grid.values():
        budget *= len(values)
    spec = replace(registry.get(args.arch), param_grid=grid)
    target = StudyTarget(spec, fs.name, fs.version, args.lookback)
    print(
        f"{args.arch} on ohlcv/L{args.lookback}: {args.assets} assets x {args.bars} bars, "
        f"tuning on {len(inputs.features.timestamps)} bars before {boundary:%Y-%m-%d}; "
        f"{budget} trials per sampler (the grid's size), seed {args.seed}"
    )
    results = {}
    for name in ("grid", "random", "tpe"):
        space = study_space(spec, name)
        if name == "grid":
            space = {k: Choice(tuple(v)) for k, v in grid.items()}
        study = optuna.create_study(
            direction="maximize",
            sampler=make_sampler(name, space, args.seed),
            pruner=pruner(4),
        )
        objective = WalkForwardObjective(target, space, inputs, params, segments=4)
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=budget)
        seconds = time.perf_counter() - t0
        trials = study.get_trials()
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        results[name] = (study, complete, seconds, trials)
    grid_best = max(t.value for t in results["grid"][1] if t.value is not None)
    print(
        f"{'sampler':8} {'best':>8} {'reached grid best at':>21} {'complete':>9} {'pruned':>7} {'seconds':>8}"
    )
    for name, (_study, complete, seconds, trials) in results.items():
        best = max((t.value for t in complete if t.value is not None), default=float("nan"))
        reach = next(
            (t.number + 1 for t in sorted(complete, key=lambda t: t.number)
             if t.value is not None and t.value >= grid_best - 1e-12),
            None,
        )  # fmt: skip
        pruned = sum(t.state == TrialState.PRUNED for t in trials)
        print(
            f"{name:8} {best:8.3f} {('trial ' + str(reach)) if reach else '-':>21} "
            f"{len(complete):9d} {pruned:7d} {seconds:8.1f}"
        )


if __name__ == "__main__":
    main()
