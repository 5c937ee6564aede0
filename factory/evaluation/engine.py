"""Walk-forward evaluation of one config, one bar at a time, resumable after any bar.

`evaluate_config` is what a Ray worker (or the serial backend) runs. It is a function of
its inputs only — config, architecture spec, feature inputs, `EvalParams` and the
config's `EvalState` from its previous evaluation (None the first time) — and returns an
`EvaluationResult` holding *only the bars it added* and the new state, for the driver to
append. The only side effect is writing model artifacts to the artifact store. Any
exception inside becomes a failed result carrying the error, and the previous state
stays in force; the sweep goes on.

For every bar after the state's last one, in order:

1. when a block starts (every ``retrain_every`` bars from the first predicted bar; with
   ``stagger`` the first block is cut short by a per-config offset so the pool's refits
   spread over the days — `block_length`), a new pipeline is fitted on the samples the schedule allows (`factory.evaluation.
   schedule`), warm-started from the previous block's model when the architecture
   supports it, and saved as an artifact; with too few samples the previous model stays
   in use;
2. every asset with a complete window of its own bars gets a signal in [-1, 1] from the
   current pipeline — one batch per bar, exactly as a live cycle predicts it;
3. the book turns the signals into target weights and the ledger books the bar
   (`factory.book`: execution at the close / next open / next close, P&L across gaps,
   costs).

Out-of-schedule block starts (`ScheduleChange`, decided by the health monitor,
`factory.monitor.retrain`) are part of a config's schedule like ``retrain_every``: at the
first bar after a change's ``after`` a new block starts — fitted from scratch (a forced
refit) or, when the change carries a model, predicting with that stored pipeline (a
challenger that beat the champion). The same changes given to a full and to an
incremental evaluation give the same blocks.

Because the same loop runs whether the bars come all at once (a backfill) or one per
cycle, and a pipeline loaded from its artifact predicts exactly what the fitted one did,
an incremental evaluation gives bit-identical signals and returns to a full one over the
same bars. Bars before the first model produce no rows (they are no track record).
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from architectures.base import Architecture
from architectures.registry import ArchitectureSpec
from factory.artifacts import ArtifactRef, ArtifactStore
from factory.book import BookSpec, CostModel, Execution, LedgerState, step, target_weights
from factory.evaluation.pipeline import (
    POOLED,
    FittedPipeline,
    model_input,
    prediction_scale,
    scale_windows,
)
from factory.evaluation.samples import SampleSpace
from factory.evaluation.schedule import train_range
from factory.plan import ModelConfig
from features.frame import FeatureFrame
from features.preprocess import fit_preprocessor

STATE_FORMAT = 1


class TimeBudgetExceeded(RuntimeError):
    pass


@dataclass(frozen=True)
class EvalParams:
    """Walk-forward and accounting settings (plain and hashable; built from settings)."""

    horizon: int = 1
    retrain_every: int = 63
    window: Literal["expanding", "rolling"] = "expanding"
    train_window: int = 1260
    min_train: int = 504
    purge: int = 1
    embargo: int = 0
    costs: CostModel = field(default_factory=CostModel)
    execution: Execution = "next_close"
    book: BookSpec = field(default_factory=BookSpec)
    max_gap_bars: int = 21
    label: Literal["raw", "excess"] = "raw"
    warm_start: bool = True
    stagger: bool = True
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

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON (stored with each settings key, shown in model cards)."""
        out: dict[str, Any] = json.loads(json.dumps(asdict(self), default=str))
        out.pop("time_budget_s", None)
        return out


@dataclass(frozen=True, eq=False)
class EvalInputs:
    """What every config built on one feature set shares: the feature frame and the
    prices. Put once into the Ray object store and read by all tasks."""

    features: FeatureFrame
    close: np.ndarray  # T x N, aligned with features; NaN = the asset has no bar
    open: np.ndarray | None = None  # T x N opens (next_open execution)

    def __post_init__(self) -> None:
        if self.close.shape != self.features.values.shape[:2]:
            raise ValueError("close and features are not aligned")
        if self.open is not None and self.open.shape != self.close.shape:
            raise ValueError("open and close are not aligned")


@dataclass(frozen=True)
class ModelRef:
    """The artifact of the pipeline in use."""

    uri: str
    sha256: str
    trained_at: datetime
    features: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "sha256": self.sha256,
            "trained_at": self.trained_at.isoformat(),
            "features": list(self.features),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelRef:
        return cls(
            data["uri"],
            data["sha256"],
            datetime.fromisoformat(data["trained_at"]),
            tuple(data["features"]),
        )


@dataclass(frozen=True)
class ScheduleChange:
    """A block start out of the ``retrain_every`` schedule, at the first bar after
    ``after``: a fresh fit (``model`` None: a forced refit, not warm-started — the model
    it replaces went bad) or a switch to the stored pipeline ``model``."""

    after: datetime
    model: ModelRef | None = None


@dataclass(frozen=True, eq=False)
class EvalState:
    """What the next evaluation of a config needs to continue where this one stopped."""

    first_ts: datetime  # first predicted bar (block 0 starts here)
    last_ts: datetime | None = None  # last bar processed
    block: int = -1  # index of the current block (-1 before the first)
    block_bars: int = 0  # bars processed in the current block
    model: ModelRef | None = None  # the pipeline predicting now
    ledger: LedgerState | None = None  # positions (None until the first model)
    first_row_ts: datetime | None = None  # first bar with a model (first return row)
    n_retrains: int = 0
    n_predictions: int = 0
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "first_ts": self.first_ts.isoformat(),
            "last_ts": None if self.last_ts is None else self.last_ts.isoformat(),
            "block": self.block,
            "block_bars": self.block_bars,
            "model": None if self.model is None else self.model.to_json(),
            "ledger": None if self.ledger is None else self.ledger.to_json(),
            "first_row_ts": None if self.first_row_ts is None else self.first_row_ts.isoformat(),
            "n_retrains": self.n_retrains,
            "n_predictions": self.n_predictions,
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalState:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown evaluation state format {data.get('format')!r}")

        def ts(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value)

        m = data.get("model")
        first = ts(data["first_ts"])
        assert first is not None
        return cls(
            first_ts=first,
            last_ts=ts(data.get("last_ts")),
            block=int(data["block"]),
            block_bars=int(data["block_bars"]),
            model=None if m is None else ModelRef.from_json(m),
            ledger=None if data.get("ledger") is None else LedgerState.from_json(data["ledger"]),
            first_row_ts=ts(data.get("first_row_ts")),
            n_retrains=int(data["n_retrains"]),
            n_predictions=int(data["n_predictions"]),
            fit_seconds=float(data["fit_seconds"]),
            predict_seconds=float(data["predict_seconds"]),
        )


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """One evaluation's additions: signals and ledger rows of the bars it processed (the
    bars after the previous state's last one), the artifacts it wrote and the new state.
    A failed result carries the error and no state (the previous one stays)."""

    config_id: str
    status: Literal["done", "failed"]
    error: str | None = None
    assets: tuple[str, ...] = ()
    signal_ts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="datetime64[ns]"))
    signals: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))  # bars x N, NaN = none
    return_ts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="datetime64[ns]"))
    net: np.ndarray = field(default_factory=lambda: np.empty(0))
    gross: np.ndarray = field(default_factory=lambda: np.empty(0))
    turnover: np.ndarray = field(default_factory=lambda: np.empty(0))
    cost: np.ndarray = field(default_factory=lambda: np.empty(0))
    artifacts: tuple[ArtifactRef, ...] = ()
    state: EvalState | None = None
    n_retrains: int = 0  # in this evaluation
    n_predictions: int = 0  # in this evaluation
    fit_seconds: float = 0.0  # in this evaluation
    predict_seconds: float = 0.0  # in this evaluation
    last_ts: datetime | None = None
    notes: tuple[str, ...] = ()

    def returns_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"net": self.net, "gross": self.gross, "turnover": self.turnover, "cost": self.cost},
            index=pd.DatetimeIndex(self.return_ts, name="timestamp"),
        )

    def signals_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.signals,
            index=pd.DatetimeIndex(self.signal_ts, name="timestamp"),
            columns=list(self.assets),
        )


PipelineLoader = Callable[[ModelRef, ArchitectureSpec], FittedPipeline]


def load_pipeline(store: ArtifactStore, ref: ModelRef, spec: ArchitectureSpec) -> FittedPipeline:
    """The pipeline of an artifact (checksum verified)."""
    with store.open(ref.uri, ref.sha256) as (directory, schema):
        return FittedPipeline.load(directory, spec, schema)


def first_prediction_index(timestamps: pd.DatetimeIndex, params: EvalParams) -> int:
    first = params.min_train
    if params.start is not None:
        first = max(first, int(timestamps.searchsorted(pd.Timestamp(params.start))))
    return first


def retrain_offset(config_id: str, retrain_every: int) -> int:
    """Bars from the first prediction to a config's second refit, in [1, retrain_every]:
    a hash of its id, so that the pool's refits spread evenly over the days instead of
    all falling on the same bar."""
    digest = hashlib.sha256(f"stagger:{config_id}".encode()).digest()
    return 1 + int.from_bytes(digest[:4], "little") % retrain_every


def block_length(config_id: str, block: int, params: EvalParams) -> int:
    """Bars of block ``block``: every block has ``retrain_every`` bars, except that with
    ``stagger`` the first one is cut to `retrain_offset` bars."""
    if block == 0 and params.stagger:
        return retrain_offset(config_id, params.retrain_every)
    return params.retrain_every


def block_seed(config_id: str, block: int, seed: int) -> int:
    digest = hashlib.sha256(f"{config_id}:{block}:{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def change_bars(
    timestamps: pd.DatetimeIndex, changes: Sequence[ScheduleChange]
) -> dict[int, ScheduleChange]:
    """The bar index each change takes effect at (the first bar after its ``after``); of
    two changes on one bar the later-recorded one wins."""
    out: dict[int, ScheduleChange] = {}
    for c in changes:
        i = int(timestamps.searchsorted(pd.Timestamp(c.after), side="right"))
        if i < len(timestamps):
            out[i] = c
    return out


def evaluate_config(
    config: ModelConfig,
    spec: ArchitectureSpec,
    inputs: EvalInputs,
    params: EvalParams,
    *,
    store: ArtifactStore | None = None,
    state: EvalState | None = None,
    loader: PipelineLoader | None = None,
    changes: Sequence[ScheduleChange] = (),
) -> EvaluationResult:
    """Evaluate ``config`` on the bars after ``state`` (all bars when None); never raises
    (failures become a result). ``loader`` loads the current pipeline of a resumed state
    and any model a change switches to (default: from ``store``). ``changes``: the
    config's out-of-schedule block starts (those before the bars evaluated are past)."""
    try:
        return _Run(config, spec, inputs, params, store, state, loader, changes).run()
    except Exception as exc:
        tb = traceback.format_exc(limit=6)
        return EvaluationResult(
            config.config_id,
            "failed",
            error=f"{type(exc).__name__}: {exc}\n{tb}",
            assets=inputs.features.assets,
        )


class _Run:
    """One evaluation (see the module docstring)."""

    def __init__(
        self,
        config: ModelConfig,
        spec: ArchitectureSpec,
        inputs: EvalInputs,
        params: EvalParams,
        store: ArtifactStore | None,
        state: EvalState | None,
        loader: PipelineLoader | None,
        changes: Sequence[ScheduleChange] = (),
    ) -> None:
        self.config = config
        self.changes = changes
        self.spec = spec
        self.inputs = inputs
        self.params = params
        self.store = store
        self.state = state
        self.loader = loader
        self.notes: list[str] = []
        self.refs: list[ArtifactRef] = []
        self.fit_s = 0.0
        self.predict_s = 0.0

    def run(self) -> EvaluationResult:
        started = time.perf_counter()
        p = self.params
        ff = self.inputs.features
        timestamps, assets = ff.timestamps, ff.assets
        T, N = ff.values.shape[:2]
        samples = SampleSpace(
            ff.values,
            self.inputs.close,
            lookback=self.config.lookback,
            horizon=p.horizon,
            kind=self.spec.input,
            label=p.label,
        )
        names = ff.names[:1] if self.spec.input in ("series", "panel") else ff.names
        state = self.state
        if state is None:
            first = first_prediction_index(timestamps, p)
            if first >= T:
                raise ValueError(
                    f"nothing to predict: the first prediction would be bar {first} of {T} "
                    f"(min_train={p.min_train}, start={p.start})"
                )
            state = EvalState(first_ts=timestamps[first].to_pydatetime())
            begin = first
        else:
            assert state.last_ts is not None
            begin = int(timestamps.searchsorted(state.last_ts, side="right"))
        pipeline = self._current_pipeline(state)
        ledger = None if state.ledger is None else state.ledger.reindex(assets)
        costs = p.costs.rates(assets, self.inputs.close)
        opens = self.inputs.open
        block, block_bars = state.block, state.block_bars
        model = state.model
        n_retrains = 0
        sig_rows: list[np.ndarray] = []
        sig_ts: list[int] = []
        ret_rows: list[tuple[float, float, float, float]] = []
        ret_ts: list[int] = []
        first_row_ts = state.first_row_ts
        forced = change_bars(timestamps, self.changes)
        for i in range(begin, T):
            if time.perf_counter() - started > p.time_budget_s:
                raise TimeBudgetExceeded(
                    f"exceeded the time budget of {p.time_budget_s:g} s at bar "
                    f"{timestamps[i]:%Y-%m-%d} ({i - begin} of {T - begin} bars done)"
                )
            change = forced.get(i)
            if change is not None and change.model is not None:
                block, block_bars = block + 1, 0
                pipeline, model = self._load(change.model), change.model
                self.notes.append(f"block {block} ({timestamps[i]:%Y-%m-%d}): switched model")
            elif (
                change is not None
                or block < 0
                or block_bars >= block_length(self.config.config_id, block, p)
            ):
                block, block_bars = block + 1, 0
                warm = None if change is not None else pipeline
                fitted = self._fit(samples, names, assets, i, block, warm)
                if fitted is not None:
                    pipeline, model = fitted
                    n_retrains += 1
                else:
                    self.notes.append(
                        f"block {block} ({timestamps[i]:%Y-%m-%d}): too few training samples"
                        + ("; the previous model stays in use" if pipeline is not None else "")
                    )
            block_bars += 1
            if pipeline is None:
                continue
            t0 = time.perf_counter()
            signal = self._predict_bar(samples, pipeline, assets, i)
            self.predict_s += time.perf_counter() - t0
            if ledger is None:
                ledger = LedgerState.empty(assets)
                first_row_ts = timestamps[i].to_pydatetime()
            frozen = ~samples.present[i]
            target = target_weights(signal, held=ledger.held, frozen=frozen, book=p.book)
            row, ledger = step(
                ledger,
                close=self.inputs.close[i],
                open_=None if opens is None else opens[i],
                cost=costs[i],
                target=target,
                execution=p.execution,
                max_gap=p.max_gap_bars,
            )
            sig_rows.append(signal)
            sig_ts.append(i)
            ret_rows.append((row.net, row.gross, row.turnover, row.cost))
            ret_ts.append(i)
        if pipeline is None:
            self.notes.append(
                f"no model yet: no block up to {timestamps[T - 1]:%Y-%m-%d} had enough "
                f"training samples (needs {self.spec.tags.min_history}); waiting for data"
            )
        signals = np.array(sig_rows, dtype=np.float32).reshape(len(sig_rows), N)
        rows = np.array(ret_rows, dtype=np.float64).reshape(len(ret_rows), 4)
        n_pred = int(np.isfinite(signals).sum())
        new_state = replace(
            state,
            last_ts=timestamps[T - 1].to_pydatetime(),
            block=block,
            block_bars=block_bars,
            model=model,
            ledger=ledger,
            first_row_ts=first_row_ts,
            n_retrains=state.n_retrains + n_retrains,
            n_predictions=state.n_predictions + n_pred,
            fit_seconds=state.fit_seconds + self.fit_s,
            predict_seconds=state.predict_seconds + self.predict_s,
        )
        stamps = timestamps.to_numpy()
        return EvaluationResult(
            self.config.config_id,
            "done",
            assets=assets,
            signal_ts=stamps[sig_ts],
            signals=signals,
            return_ts=stamps[ret_ts],
            net=rows[:, 0],
            gross=rows[:, 1],
            turnover=rows[:, 2],
            cost=rows[:, 3],
            artifacts=tuple(self.refs),
            state=new_state,
            n_retrains=n_retrains,
            n_predictions=n_pred,
            fit_seconds=self.fit_s,
            predict_seconds=self.predict_s,
            last_ts=timestamps[T - 1].to_pydatetime(),
            notes=tuple(self.notes),
        )

    # -- the pieces ---------------------------------------------------------------
    def _current_pipeline(self, state: EvalState) -> FittedPipeline | None:
        return None if state.model is None else self._load(state.model)

    def _load(self, ref: ModelRef) -> FittedPipeline:
        if self.loader is not None:
            return self.loader(ref, self.spec)
        if self.store is None:
            raise ValueError("resuming an evaluation needs the artifact store (or a loader)")
        return load_pipeline(self.store, ref, self.spec)

    def _predict_bar(
        self, samples: SampleSpace, pipeline: FittedPipeline, assets: tuple[str, ...], t: int
    ) -> np.ndarray:
        out = np.full(len(assets), np.nan)
        aa = samples.predictable(t)
        aa = aa[pipeline.covers(assets)[aa]]
        if aa.size:
            tt = np.full(aa.size, t, dtype=np.int64)
            out[aa] = pipeline.predict_windows(samples.windows(tt, aa), aa, assets)
        return out

    def _fit(
        self,
        samples: SampleSpace,
        names: tuple[str, ...],
        assets: tuple[str, ...],
        start: int,
        block: int,
        previous: FittedPipeline | None,
    ) -> tuple[FittedPipeline, ModelRef] | None:
        """Fit the block starting at bar ``start``; None with too few samples."""
        t0 = time.perf_counter()
        p = self.params
        rng = train_range(
            start,
            horizon=p.horizon,
            purge=p.purge,
            embargo=p.embargo,
            window=p.window,
            train_window=p.train_window,
        )
        tt, aa = samples.training(rng, p.max_train_samples)
        if len(tt) < self.spec.tags.min_history:
            self.fit_s += time.perf_counter() - t0
            return None
        seed = block_seed(self.config.config_id, block, p.seed)
        y = samples.labels[tt, aa]
        pre = fit_preprocessor(
            samples.current(tt, aa), y, names, selection=self.config.feature_selection, seed=seed
        )
        X = model_input(
            scale_windows(pre, samples.windows(tt, aa), self.spec.input), self.spec.input
        )
        warm = previous if self._can_warm_start(previous, pre.names) else None
        models: dict[str, Architecture] = {}
        scales: dict[str, float] = {}
        if self.spec.tags.per_asset:
            for code in np.unique(aa):
                rows = np.flatnonzero(aa == code)
                if rows.size < self.spec.tags.min_history:
                    continue
                name = assets[code]
                start_from = None if warm is None else warm.models.get(name)
                models[name] = self._fit_model(X[rows], y[rows], aa[rows], seed, start_from)
                scales[name] = prediction_scale(models[name], X[rows], aa[rows])
            if not models:
                self.fit_s += time.perf_counter() - t0
                return None
        else:
            start_from = None if warm is None else warm.models.get(POOLED)
            models[POOLED] = self._fit_model(X, y, aa, seed, start_from)
            scales[POOLED] = prediction_scale(models[POOLED], X, aa)
        pipeline = FittedPipeline(self.spec, pre, models, scales, self.config.lookback)
        timestamps = self.inputs.features.timestamps
        trained_at = timestamps[start].to_pydatetime()
        ref = None
        if self.store is not None:
            schema = self._schema(pipeline, start, block, int(tt.min()), int(tt.max()), len(tt))
            ref = self.store.write(self.config.config_id, trained_at, schema, pipeline.save)
            self.refs.append(ref)
        self.fit_s += time.perf_counter() - t0
        model = ModelRef(
            "" if ref is None else ref.uri, "" if ref is None else ref.sha256, trained_at, pre.names
        )
        return pipeline, model

    def _can_warm_start(self, previous: FittedPipeline | None, names: tuple[str, ...]) -> bool:
        return (
            previous is not None
            and self.params.warm_start
            and self.spec.tags.supports_warm_start
            and previous.preprocessor.names == names
        )

    def _fit_model(
        self,
        X: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray,
        seed: int,
        previous: Architecture | None,
    ) -> Architecture:
        model = self.spec.build(self.config.param_dict)
        if previous is not None and tuple(previous.input_shape_) == tuple(X.shape[1:]):
            return model.fit(X, y, seed=seed, groups=groups, warm_start=previous)
        return model.fit(X, y, seed=seed, groups=groups)

    def _schema(
        self, pipeline: FittedPipeline, start: int, block: int, lo: int, hi: int, n_train: int
    ) -> dict[str, Any]:
        ts = self.inputs.features.timestamps
        c, spec = self.config, self.spec
        return {
            "config_id": c.config_id,
            "architecture": spec.name,
            "arch_version": spec.version,
            "entry_point": spec.entry_point,
            "feature_set": c.feature_set,
            "feature_set_version": c.feature_set_version,
            "features": list(pipeline.preprocessor.names),
            "lookback": c.lookback,
            "dtype": "float32",
            "input": spec.input,
            "per_asset": spec.tags.per_asset,
            "preprocessor": pipeline.preprocessor.to_dict(),
            "block": block,
            "trained_at": ts[start].isoformat(),
            "train_start": ts[lo].isoformat(),
            "train_end": ts[hi].isoformat(),
            "n_train": n_train,
            "horizon": self.params.horizon,
            "eval_key": self.params.key,
        }
