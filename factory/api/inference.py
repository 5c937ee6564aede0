"""Online inference behind ``POST /predict``: recent bars in, each live config's signal and
the ensemble out, every served signal logged.

The path is the walk-forward engine's, piece by piece: the bars pass the import
validation rules (`factory.data.loader.validate_frame`), become `MarketData`, the feature
sets are computed by `factory.evaluation.inputs.compute_features` and cast to the
artifact's dtype (float32, as `build_inputs` does), each config's newest artifact is
opened with its checksum verified and rebuilt with `FittedPipeline.load`, and
`factory.evaluation.predict.last_bar_signals` applies the fitted preprocessor, the
lookback windows and the model to the last bar. So a signal served for the stored bars
equals the one the engine stored for the last bar.

Loaded pipelines are cached in-process by artifact sha256 (a new artifact has a new
checksum, so the cache never serves a stale model).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from architectures import registry
from factory.api.models import (
    BarIn,
    PredictOut,
    PredictRequest,
    ServedConfig,
    SkippedConfig,
)
from factory.artifacts import ArtifactStore
from factory.data.loader import validate_frame
from factory.data.market import MarketData
from factory.data.schema import BAR_OPTIONAL, BAR_REQUIRED
from factory.evaluation.inputs import compute_features
from factory.evaluation.pipeline import POOLED, FittedPipeline
from factory.evaluation.predict import FeatureSchemaError, aligned_values, last_bar_signals
from factory.portfolio import ensemble_signals
from factory.storage import decisions
from factory.storage.database import Database
from factory.storage.predictions import PredictionRecord, log_predictions
from factory.storage.results import load_configs
from factory.storage.schema import Artifact
from features.frame import FeatureFrame
from features.registry import FeatureSet, get_feature_set

PROBE_BARS = 1_000  # synthetic history used to measure a feature set's warm-up


class PredictError(ValueError):
    """The request cannot be served as sent (HTTP 422); the message says what to change."""


class NoLiveSet(LookupError):
    """There is nothing to serve: the live set is empty (HTTP 409)."""


@dataclass(frozen=True)
class Loaded:
    """A fitted pipeline rebuilt from a verified artifact."""

    pipeline: FittedPipeline
    schema: dict[str, Any]
    sha256: str
    trained_at: datetime
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)


class PipelineCache:
    """Loaded pipelines by artifact sha256, least recently used evicted first. Safe to
    share between the server's worker threads."""

    def __init__(self, store: ArtifactStore, max_entries: int = 64) -> None:
        self.store = store
        self.max_entries = max_entries
        self._items: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # artifacts read from disk (for tests and the bench)

    def get(self, uri: str, sha256: str, trained_at: datetime) -> Loaded:
        with self._lock:
            hit = self._items.get(sha256)
            if hit is not None:
                self._items.move_to_end(sha256)
                return hit
        loaded = self._load(uri, sha256, trained_at)
        with self._lock:
            self._items[sha256] = loaded
            self._items.move_to_end(sha256)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
            self.loads += 1
        return loaded

    def _load(self, uri: str, sha256: str, trained_at: datetime) -> Loaded:
        with self.store.open(uri, sha256) as (directory, schema):
            spec = registry.get(schema["architecture"], int(schema["arch_version"]))
            pipeline = FittedPipeline.load(directory, spec, schema)
        return Loaded(pipeline, schema, sha256, trained_at)


# -- request -> MarketData ----------------------------------------------------------------
def market_data(bars: Sequence[BarIn]) -> MarketData:
    """The request's bars validated by the import rules (a `DataValidationError` names
    the bar) with auxiliary ``sentiment_*``/``onchain_*`` columns joined as-is."""
    optional = [c for c in BAR_OPTIONAL if any(getattr(b, c) is not None for b in bars)]
    base = ["timestamp", "asset", *BAR_REQUIRED, *optional]
    frame = pd.DataFrame({c: [getattr(b, c) for b in bars] for c in base})
    clean = validate_frame("request body (bars)", frame, "bars")
    for col in sorted({k for b in bars for k in (b.model_extra or {})}):
        values = pd.Series([(b.model_extra or {}).get(col) for b in bars], dtype="float64")
        clean[col] = values.loc[clean.index]  # validate_frame keeps the row labels
    return MarketData.from_long(clean)


# -- warm-up -------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def feature_warmup(fs: FeatureSet, names: tuple[str, ...]) -> int | None:
    """Bars a feature set needs before ``names`` are all defined, measured on a synthetic
    universe with every optional column (None if not within `PROBE_BARS`)."""
    from factory.data.synth import synth_universe

    u = synth_universe(
        max(2, fs.min_assets), PROBE_BARS, seed=0, extras=("book", "sentiment", "onchain")
    )
    bars = u.bars.set_index(["timestamp", "asset"])
    for prefix, aux in (("sentiment_", u.sentiment), ("onchain_", u.onchain)):
        if aux is not None:
            bars = bars.join(aux.set_index(["timestamp", "asset"]).add_prefix(prefix))
    frame = compute_features(MarketData(bars.sort_index().astype("float64")), fs)
    cols = [i for i, n in enumerate(frame.names) if n in names] or list(range(len(frame.names)))
    ok = np.isfinite(frame.values[:, :, cols]).all(axis=2).all(axis=1)
    first = np.flatnonzero(ok)
    return int(first[0]) if first.size else None


# -- serving ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Candidate:
    config_id: str
    loaded: Loaded
    fs: FeatureSet


class Predictor:
    """Serves ``POST /predict`` for one database and artifact store."""

    def __init__(self, db: Database, store: ArtifactStore, *, max_cached: int = 64) -> None:
        self.db = db
        self.cache = PipelineCache(store, max_cached)

    def predict(self, request: PredictRequest, *, now: datetime) -> PredictOut:
        ids = self._config_ids(request.configs)
        data = market_data(request.bars)
        candidates, skipped = self._candidates(ids)
        if not candidates:
            raise NoLiveSet(
                "no config can be served: "
                + "; ".join(f"{s.config_id}: {s.reason}" for s in skipped)
            )
        frames = self._features(data, {c.fs.name: c.fs for c in candidates})
        bar_ts = pd.Timestamp(data.timestamps[-1]).to_pydatetime()
        served = []
        shortfalls: list[_Shortfall] = []
        for c in candidates:
            frame = frames[c.fs.name]
            shortfalls += _shortfalls(c, frame, data)
            if shortfalls:
                continue
            close = data.panel()["close"].reindex(columns=list(frame.assets)).to_numpy()
            with c.loaded.lock:
                sig = last_bar_signals(c.loaded.pipeline, frame, close)
            served.append((c, sig))
        if shortfalls:
            raise PredictError(_describe(shortfalls, pd.Timestamp(bar_ts)))
        request_id = uuid.uuid4().hex
        records = [
            PredictionRecord(
                request_id, now, c.config_id, str(asset), bar_ts, float(v), c.loaded.sha256
            )
            for c, sig in served
            for asset, v in sig.items()
        ]
        log_predictions(self.db, records)
        wide = pd.DataFrame({c.config_id: sig for c, sig in served}).T
        ensemble = ensemble_signals(wide) if not wide.empty else pd.Series(dtype=float)
        return PredictOut(
            request_id=request_id,
            requested_at=now,
            bar_ts=bar_ts,
            configs=[
                ServedConfig(
                    config_id=c.config_id,
                    architecture=str(c.loaded.schema["architecture"]),
                    arch_version=int(c.loaded.schema["arch_version"]),
                    feature_set=c.fs.name,
                    lookback=c.loaded.pipeline.lookback,
                    artifact_sha256=c.loaded.sha256,
                    trained_at=c.loaded.trained_at,
                    signals={str(a): float(v) for a, v in sig.items()},
                )
                for c, sig in served
            ],
            ensemble={str(a): float(v) for a, v in ensemble.items()},
            skipped=skipped,
        )

    def _config_ids(self, requested: Sequence[str] | None) -> list[str]:
        if requested is not None:
            ids = list(dict.fromkeys(requested))
            unknown = sorted(set(ids) - set(load_configs(self.db, ids).index))
            if unknown:
                raise PredictError(f"unknown config id(s): {', '.join(unknown)}")
            if not ids:
                raise PredictError("configs is empty: omit it to serve the live set")
            return ids
        cycle = decisions.latest_cycle(self.db)
        if cycle is None or not cycle.active:
            raise NoLiveSet(
                "the live set is empty: run a promotion cycle (`factory promote` or "
                "POST /jobs/promote), or name configs in the request"
            )
        return list(cycle.active)

    def _candidates(self, ids: Sequence[str]) -> tuple[list[_Candidate], list[SkippedConfig]]:
        newest_of = newest_artifacts(self.db, ids)
        out: list[_Candidate] = []
        skipped: list[SkippedConfig] = []
        for cid in ids:
            newest = newest_of.get(cid)
            if newest is None:
                skipped.append(SkippedConfig(config_id=cid, reason="no artifact (not evaluated?)"))
                continue
            try:
                loaded = self.cache.get(newest.uri, newest.sha256, newest.trained_at)
                fs = get_feature_set(loaded.schema["feature_set"])
            except Exception as exc:  # a bad artifact must not take the other configs down
                skipped.append(SkippedConfig(config_id=cid, reason=f"{type(exc).__name__}: {exc}"))
                continue
            wanted = loaded.schema.get("feature_set_version")
            if wanted is not None and int(wanted) != fs.version:
                skipped.append(
                    SkippedConfig(
                        config_id=cid,
                        reason=f"trained on {fs.name} v{wanted}, the installed pipeline is "
                        f"v{fs.version}: re-evaluate it",
                    )
                )
                continue
            out.append(_Candidate(cid, loaded, fs))
        return out, skipped

    @staticmethod
    def _features(data: MarketData, sets: dict[str, FeatureSet]) -> dict[str, FeatureFrame]:
        frames = {}
        for name, fs in sets.items():
            try:
                frame = compute_features(data, fs)
            except ValueError as exc:  # required columns absent, too few assets, ...
                raise PredictError(str(exc)) from None
            # The engine's inputs are float32 (`build_inputs`); so are the artifacts'.
            values = frame.values.astype(np.float32, copy=False)
            frames[name] = FeatureFrame(values, frame.timestamps, frame.assets, frame.names)
        return frames


@dataclass(frozen=True)
class _Shortfall:
    """An asset a config should have a view on but has no complete window for."""

    asset: str
    have: int  # bars of the asset in the request
    config_id: str
    lookback: int
    feature_set: str
    warmup: int | None  # None: the asset has no bar at the last timestamp, or unknown
    at_last_bar: bool = True

    @property
    def need(self) -> int | None:
        return None if self.warmup is None else self.warmup + self.lookback


def newest_artifacts(db: Database, ids: Sequence[str]) -> dict[str, Artifact]:
    """The newest unpruned artifact of each config (one query)."""
    with db.session() as s:
        rows = s.scalars(
            select(Artifact)
            .where(Artifact.config_id.in_(list(ids)), Artifact.pruned.is_(False))
            .order_by(Artifact.config_id, Artifact.trained_at)
        )
        return {a.config_id: a for a in rows}  # the last (newest) of each config wins


def _shortfalls(c: _Candidate, frame: FeatureFrame, data: MarketData) -> list[_Shortfall]:
    """Assets this config should have a view on but that lack a complete window at the
    last bar. Raises `PredictError` for a missing feature (naming it)."""
    pipe = c.loaded.pipeline
    try:
        values = aligned_values(pipe, frame)
    except FeatureSchemaError as exc:
        raise PredictError(f"config {c.config_id}: {exc}") from None
    selected = np.asarray(pipe.preprocessor.selected, dtype=np.int64)
    if pipe.kind == "series":
        selected = np.zeros(1, dtype=np.int64)
    finite = np.isfinite(values[:, :, selected]).all(axis=2)  # T x N
    L = pipe.lookback
    T = finite.shape[0]
    covered = None if POOLED in pipe.models else set(pipe.models)
    out = []
    for n, asset in enumerate(frame.assets):
        if covered is not None and asset not in covered:
            continue  # a per-asset config has no model for it: no view, not an error
        if T >= L and finite[T - L :, n].all():
            continue
        counts = data.bars.groupby(level="asset").size()
        close = data.panel()["close"]
        out.append(
            _Shortfall(
                asset=asset,
                have=int(counts.get(asset, 0)),
                config_id=c.config_id,
                lookback=L,
                feature_set=c.fs.name,
                warmup=feature_warmup(c.fs, tuple(pipe.preprocessor.names)),
                at_last_bar=bool(np.isfinite(close[asset].to_numpy(dtype=float)[-1])),
            )
        )
    return out


def _describe(shortfalls: Sequence[_Shortfall], last_ts: pd.Timestamp) -> str:
    """One message: the largest requirement first, then which assets fall short."""
    parts = []
    absent = sorted({s.asset for s in shortfalls if not s.at_last_bar})
    if absent:
        parts.append(
            f"no bar at the last timestamp {last_ts:%Y-%m-%d %H:%M} for "
            + ", ".join(repr(a) for a in absent)
        )
    short = [s for s in shortfalls if s.at_last_bar]
    if short:
        known = [s for s in short if s.need is not None]
        if known:
            worst = max(known, key=lambda s: s.need or 0)
            parts.append(
                f"send at least {worst.need} bars per asset: config {worst.config_id} reads "
                f"{worst.lookback}-bar windows of {worst.feature_set!r} features, which need "
                f"{worst.warmup} bars of warm-up"
            )
        else:
            worst = short[0]
            parts.append(
                f"send more than {PROBE_BARS + worst.lookback - 1} bars per asset: config "
                f"{worst.config_id}'s {worst.feature_set!r} features need a long warm-up"
            )
        have = {s.asset: s.have for s in short}
        parts.append(
            "too short: " + ", ".join(f"{a!r} ({n} bars)" for a, n in sorted(have.items()))
        )
    return "too few bars: " + "; ".join(parts)
