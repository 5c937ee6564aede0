"""Walk-forward evaluation of one config: fit on the past, predict the next block, repeat.

`evaluate_config` is what a Ray worker (or the serial backend) runs. It is a function of
its inputs only — config, architecture spec, feature inputs and `EvalParams` — and
returns an `EvaluationResult` for the driver to store. The only side effect is writing
model artifacts to the artifact store (when one is given). Any exception inside becomes a
failed result carrying the error; the sweep goes on.

Per block (see `factory.evaluation.schedule` for the timing):

1. training samples: bars in the block's training range whose lookback window is
   complete (no NaN) and whose label is known; pooled across assets (newest
   ``max_train_samples`` kept), ordered by asset then time;
2. the preprocessor (scaling, optional feature selection) is fitted on those samples'
   features only;
3. the model is fitted (one per asset for ``per_asset`` architectures);
4. every (bar, asset) of the block with a complete window gets a signal in [-1, 1];
5. the fitted pipeline is saved as an artifact.

Then signals -> equal-weight positions -> net returns after costs
(`factory.evaluation.backtest`).
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from architectures.registry import ArchitectureSpec
from factory.artifacts import ArtifactRef, ArtifactStore
from factory.evaluation import backtest
from factory.evaluation.pipeline import POOLED, FittedPipeline, design_matrix, prediction_scale
from factory.evaluation.schedule import Block, blocks
from factory.plan import ModelConfig
from features.frame import FeatureFrame
from features.preprocess import fit_preprocessor
from features.windows import forward_returns, valid_samples


class TimeBudgetExceeded(RuntimeError):
    pass


@dataclass(frozen=True)
class EvalParams:
    """Walk-forward settings (plain and hashable; built from `EvaluationSettings`)."""

    horizon: int = 1
    retrain_every: int = 63
    window: Literal["expanding", "rolling"] = "expanding"
    train_window: int = 1260
    min_train: int = 504
    purge: int = 1
    embargo: int = 0
    cost_bps: float = 5.0
    start: datetime | None = None
    seed: int = 0
    max_train_samples: int = 200_000
    time_budget_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.purge < self.horizon:
            raise ValueError(
                f"purge ({self.purge}) must be at least the horizon ({self.horizon}): a shorter "
                "purge trains on labels that are not yet known when the block is predicted"
            )

    @property
    def key(self) -> str:
        """Hash of everything that changes results (not the time budget)."""
        payload = {k: v for k, v in asdict(self).items() if k != "time_budget_s"}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class EvalInputs:
    """What every config built on one feature set shares: the feature frame and closes.
    Put once into the Ray object store and read by all tasks."""

    features: FeatureFrame
    close: np.ndarray  # T x N, aligned with features

    def __post_init__(self) -> None:
        if self.close.shape != self.features.values.shape[:2]:
            raise ValueError("close and features are not aligned")


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    config_id: str
    status: Literal["done", "failed"]
    error: str | None = None
    assets: tuple[str, ...] = ()
    signal_ts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="datetime64[ns]"))
    signals: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))  # T' x N, NaN = none
    return_ts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="datetime64[ns]"))
    net: np.ndarray = field(default_factory=lambda: np.empty(0))
    gross: np.ndarray = field(default_factory=lambda: np.empty(0))
    turnover: np.ndarray = field(default_factory=lambda: np.empty(0))
    artifacts: tuple[ArtifactRef, ...] = ()
    n_retrains: int = 0
    n_predictions: int = 0
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    last_ts: datetime | None = None
    last_retrain_ts: datetime | None = None
    notes: tuple[str, ...] = ()

    def returns_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"net": self.net, "gross": self.gross, "turnover": self.turnover},
            index=pd.DatetimeIndex(self.return_ts, name="timestamp"),
        )

    def signals_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.signals,
            index=pd.DatetimeIndex(self.signal_ts, name="timestamp"),
            columns=list(self.assets),
        )


def first_prediction_index(timestamps: pd.DatetimeIndex, params: EvalParams) -> int:
    first = params.min_train
    if params.start is not None:
        first = max(first, int(timestamps.searchsorted(pd.Timestamp(params.start))))
    return first


def block_seed(config_id: str, block: int, seed: int) -> int:
    digest = hashlib.sha256(f"{config_id}:{block}:{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def evaluate_config(
    config: ModelConfig,
    spec: ArchitectureSpec,
    inputs: EvalInputs,
    params: EvalParams,
    *,
    store: ArtifactStore | None = None,
) -> EvaluationResult:
    """Walk-forward evaluation of ``config``; never raises (failures become a result)."""
    try:
        return _evaluate(config, spec, inputs, params, store)
    except Exception as exc:
        tb = traceback.format_exc(limit=6)
        return EvaluationResult(
            config.config_id,
            "failed",
            error=f"{type(exc).__name__}: {exc}\n{tb}",
            assets=inputs.features.assets,
        )


def _evaluate(
    config: ModelConfig,
    spec: ArchitectureSpec,
    inputs: EvalInputs,
    params: EvalParams,
    store: ArtifactStore | None,
) -> EvaluationResult:
    started = time.perf_counter()
    ff = inputs.features
    values, names = ff.values, ff.names
    if spec.input == "series":
        # Series models read one series: the feature set's first column (ohlcv: ret_1).
        values, names = values[:, :, :1], names[:1]
    T, N, _ = values.shape
    timestamps = ff.timestamps
    assets = ff.assets
    L = config.lookback
    labels = forward_returns(inputs.close, params.horizon)
    first = first_prediction_index(timestamps, params)
    if first >= T:
        raise ValueError(
            f"nothing to predict: the first prediction would be bar {first} of {T} "
            f"(min_train={params.min_train}, start={params.start})"
        )
    schedule = blocks(
        T,
        first,
        retrain_every=params.retrain_every,
        purge=params.purge,
        embargo=params.embargo,
        window=params.window,
        train_window=params.train_window,
    )
    signals = np.full((T - first, N), np.nan)
    refs: list[ArtifactRef] = []
    notes: list[str] = []
    fit_s = predict_s = 0.0
    n_retrains = 0
    last_retrain: datetime | None = None
    for block in schedule:
        if time.perf_counter() - started > params.time_budget_s:
            raise TimeBudgetExceeded(
                f"exceeded the time budget of {params.time_budget_s:g} s at block {block.index + 1} of {len(schedule)}"
            )
        t0 = time.perf_counter()
        fitted = fit_block(config, spec, values, labels, names, assets, block, params)
        fit_s += time.perf_counter() - t0
        if fitted is None:
            notes.append(
                f"block {block.index} ({timestamps[block.start]:%Y-%m-%d}): too few training samples"
            )
            continue
        pipeline, n_train = fitted
        n_retrains += 1
        trained_at = timestamps[block.start].to_pydatetime()
        last_retrain = trained_at
        t0 = time.perf_counter()
        lo = max(0, block.start - L + 1)
        region = pipeline.preprocessor.transform(values[lo : block.end])
        ok = valid_samples(region, L)[block.start - lo :]
        tt, aa = np.nonzero(ok)
        sig = pipeline.signals(region, tt + (block.start - lo), aa, assets)
        signals[tt + block.start - first, aa] = sig
        predict_s += time.perf_counter() - t0
        if store is not None:
            schema = _schema(config, spec, pipeline, params, ff, block, n_train)
            refs.append(store.write(config.config_id, trained_at, schema, pipeline.save))
    if n_retrains == 0:
        raise ValueError(f"no block had enough training samples (needs {spec.tags.min_history})")
    fwd = backtest.next_returns(inputs.close)[first:]
    result = backtest.pnl(signals, fwd, params.cost_bps)
    n_real = len(result.net)
    return EvaluationResult(
        config.config_id,
        "done",
        assets=assets,
        signal_ts=timestamps[first:].to_numpy(),
        signals=signals.astype(np.float32),
        return_ts=timestamps[first + 1 : first + 1 + n_real].to_numpy(),
        net=result.net,
        gross=result.gross,
        turnover=result.turnover,
        artifacts=tuple(refs),
        n_retrains=n_retrains,
        n_predictions=int(np.isfinite(signals).sum()),
        fit_seconds=fit_s,
        predict_seconds=predict_s,
        last_ts=timestamps[-1].to_pydatetime(),
        last_retrain_ts=last_retrain,
        notes=tuple(notes),
    )


def training_samples(
    values: np.ndarray, labels: np.ndarray, lookback: int, block: Block, max_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """(t, asset) of the block's training samples, ordered by asset then time."""
    hi = block.train_hi
    if hi < block.train_lo or hi < lookback - 1:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    lo = max(block.train_lo, 0)
    region_lo = max(0, lo - lookback + 1)
    ok = valid_samples(values[region_lo : hi + 1], lookback)[lo - region_lo :]
    ok &= np.isfinite(labels[lo : hi + 1])
    tt, aa = np.nonzero(ok)
    tt = tt + lo
    if len(tt) > max_samples:
        keep = np.argsort(-tt, kind="stable")[:max_samples]
        tt, aa = tt[keep], aa[keep]
    order = np.lexsort((tt, aa))
    return tt[order], aa[order]


def fit_block(
    config: ModelConfig,
    spec: ArchitectureSpec,
    values: np.ndarray,
    labels: np.ndarray,
    names: tuple[str, ...],
    assets: tuple[str, ...],
    block: Block,
    params: EvalParams,
) -> tuple[FittedPipeline, int] | None:
    """Fit the preprocessor and the model(s) for one block; None if too few samples."""
    L = config.lookback
    tt, aa = training_samples(values, labels, L, block, params.max_train_samples)
    if len(tt) < spec.tags.min_history:
        return None
    seed = block_seed(config.config_id, block.index, params.seed)
    y = labels[tt, aa]
    preprocessor = fit_preprocessor(
        values[tt, aa], y, names, selection=config.feature_selection, seed=seed
    )
    lo = max(0, int(tt.min()) - L + 1)
    region = preprocessor.transform(values[lo : block.train_hi + 1])
    t_local = tt - lo
    models = {}
    scales = {}
    if spec.tags.per_asset:
        for code in np.unique(aa):
            rows = np.flatnonzero(aa == code)
            if rows.size < spec.tags.min_history:
                continue
            X = design_matrix(region, t_local[rows], aa[rows], L, spec.input)
            model = spec.build(config.param_dict).fit(X, y[rows], seed=seed)
            models[assets[code]] = model
            scales[assets[code]] = prediction_scale(model, X)
        if not models:
            return None
    else:
        X = design_matrix(region, t_local, aa, L, spec.input)
        model = spec.build(config.param_dict).fit(X, y, seed=seed, groups=aa)
        models[POOLED] = model
        scales[POOLED] = prediction_scale(model, X)
    return FittedPipeline(spec, preprocessor, models, scales, L), len(tt)


def _schema(
    config: ModelConfig,
    spec: ArchitectureSpec,
    pipeline: FittedPipeline,
    params: EvalParams,
    ff: FeatureFrame,
    block: Block,
    n_train: int,
) -> dict[str, Any]:
    return {
        "config_id": config.config_id,
        "architecture": spec.name,
        "arch_version": spec.version,
        "entry_point": spec.entry_point,
        "feature_set": config.feature_set,
        "feature_set_version": config.feature_set_version,
        "features": list(pipeline.preprocessor.names),
        "lookback": config.lookback,
        "dtype": "float32",
        "input": spec.input,
        "per_asset": spec.tags.per_asset,
        "preprocessor": pipeline.preprocessor.to_dict(),
        "trained_at": ff.timestamps[block.start].isoformat(),
        "train_start": ff.timestamps[max(block.train_lo, 0)].isoformat(),
        "train_end": ff.timestamps[block.train_hi].isoformat(),
        "n_train": n_train,
        "horizon": params.horizon,
        "eval_key": params.key,
    }
