"""Walk-forward evaluation: the schedule, look-ahead safety for every architecture,
pipeline, book and execution mode (cuts inside blocks, horizons > 1, rolling windows),
incremental evaluation that is bit-identical to a full one, gaps in the calendar,
artifacts, failures, and that skill is found where it exists and not where it does not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from architectures import registry
from architectures.base import Architecture, Tags
from architectures.registry import ArchitectureSpec, spec_from_class
from factory.artifacts import ArtifactStore
from factory.book import BookSpec
from factory.data.market import MarketData
from factory.evaluation.engine import (
    EvalInputs,
    EvalParams,
    EvaluationResult,
    ModelRef,
    ScheduleChange,
    evaluate_config,
    retrain_offset,
)
from factory.evaluation.inputs import build_inputs
from factory.evaluation.pipeline import FittedPipeline
from factory.evaluation.schedule import blocks
from features.frame import FeatureFrame
from features.registry import feature_sets, get_feature_set
from tests.factory.helpers import perturb_after, synth_market, tiny_config

# Blocks at bars 150, 200, 250, ... (no staggering, so the cases below can name them).
PARAMS = EvalParams(
    min_train=150, retrain_every=50, horizon=1, purge=1, execution="close", stagger=False
)
ARCHS = [s.name for s in registry.available()]
PIPELINES = list(feature_sets())


def test_blocks_are_anchored_and_purged() -> None:
    b = blocks(100, 40, retrain_every=25, purge=3, embargo=2)
    assert [(x.start, x.end) for x in b] == [(40, 65), (65, 90), (90, 100)]
    assert [x.train_hi for x in b] == [35, 60, 85]  # start - purge - embargo
    assert all(x.train_lo == 0 for x in b)
    rolling = blocks(
        100, 40, retrain_every=25, purge=1, embargo=0, window="rolling", train_window=20
    )
    assert [(x.train_lo, x.train_hi) for x in rolling] == [(20, 39), (45, 64), (70, 89)]
    # The schedule of the past does not depend on how much data follows.
    assert blocks(1000, 40, retrain_every=25, purge=3, embargo=2)[:2] == b[:2]


def test_purge_shorter_than_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match="purge"):
        EvalParams(horizon=5, purge=2)


@pytest.fixture(scope="module")
def market() -> MarketData:
    return synth_market(3, 560, seed=11)


def _lookback(spec: ArchitectureSpec) -> int:
    """A short lookback the architecture is expanded with."""
    return 5 if spec.tags.lookbacks is None else min(spec.tags.lookbacks)


def _run(
    data: MarketData,
    fs_name: str,
    arch: str,
    params: EvalParams = PARAMS,
    *,
    selection: str = "none",
    store: ArtifactStore | None = None,
) -> EvaluationResult:
    fs = get_feature_set(fs_name)
    spec = registry.get(arch)
    config = tiny_config(spec, fs, lookback=_lookback(spec), selection=selection)
    result = evaluate_config(config, spec, build_inputs(data, fs), params, store=store)
    assert result.status == "done", result.error
    return result


def _assert_past_unchanged(
    data: MarketData, cut: pd.Timestamp, fs_name: str, arch: str, params: EvalParams, **kw: str
) -> None:
    full = _run(data, fs_name, arch, params, **kw)
    perturbed = _run(perturb_after(data, cut), fs_name, arch, params, **kw)
    s_full, s_pert = full.signals_frame(), perturbed.signals_frame()
    past = s_full.index <= cut
    assert past.sum() > 50
    assert np.array_equal(s_full[past].to_numpy(), s_pert[past].to_numpy(), equal_nan=True)
    r_full, r_pert = full.returns_frame(), perturbed.returns_frame()
    rpast = r_full.index <= cut
    pd.testing.assert_frame_equal(r_full[rpast], r_pert[rpast])
    # The perturbation reached the future, so the check above was not vacuous.
    assert not np.array_equal(s_full[~past].to_numpy(), s_pert[~past].to_numpy(), equal_nan=True)
    assert not r_full[~rpast].equals(r_pert[~rpast])


# A cut inside a block (blocks start at bars 150, 200, 250, ...), horizon 3 with a purge
# of 3 and a rolling training window: the future must not reach the past in any form.
WIDE = replace(PARAMS, horizon=3, purge=3, embargo=1, window="rolling", train_window=300)
CUT_IN_BLOCK = 421


@pytest.mark.parametrize("arch", ARCHS)
def test_no_lookahead_per_architecture(market: MarketData, arch: str) -> None:
    """Perturb every bar after t: every signal and every return up to t is unchanged.
    The registry drives the cases, so every family x input kind is covered."""
    spec = registry.get(arch)
    fs = "ohlcv" if spec.tags.feature_sets is None else spec.tags.feature_sets[0]
    cut = market.timestamps[CUT_IN_BLOCK]
    _assert_past_unchanged(market, cut, fs, arch, WIDE)


@pytest.mark.parametrize("arch", ARCHS)
def test_no_lookahead_on_a_block_boundary(market: MarketData, arch: str) -> None:
    spec = registry.get(arch)
    fs = "ohlcv" if spec.tags.feature_sets is None else spec.tags.feature_sets[0]
    _assert_past_unchanged(market, market.timestamps[449], fs, arch, PARAMS)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_no_lookahead_per_pipeline(market: MarketData, pipeline: str) -> None:
    """The whole evaluation path per feature pipeline (with feature selection on)."""
    cut = market.timestamps[CUT_IN_BLOCK]
    _assert_past_unchanged(market, cut, pipeline, "lightgbm", WIDE, selection="correlation")


@pytest.mark.parametrize("book", ["timeseries", "cross_sectional", "long_only"])
@pytest.mark.parametrize("execution", ["close", "next_open", "next_close"])
def test_no_lookahead_per_book_and_execution(market: MarketData, book: str, execution: str) -> None:
    params = replace(WIDE, book=BookSpec(book), execution=execution)  # type: ignore[arg-type]
    _assert_past_unchanged(market, market.timestamps[CUT_IN_BLOCK], "ohlcv", "lightgbm", params)


def test_no_lookahead_with_excess_labels(market: MarketData) -> None:
    params = replace(WIDE, label="excess", book=BookSpec("cross_sectional"))
    _assert_past_unchanged(market, market.timestamps[CUT_IN_BLOCK], "momentum", "lightgbm", params)


# -- incremental evaluation ----------------------------------------------------------
def _incremental(
    data: MarketData,
    fs_name: str,
    arch: str,
    params: EvalParams,
    store: ArtifactStore,
    cuts: list[int],
    changes: tuple[ScheduleChange, ...] = (),
) -> list[EvaluationResult]:
    """Evaluate on growing prefixes of ``data`` (ending at each cut, then all), each time
    resuming from the previous result's state and loading its pipeline from the store."""
    fs = get_feature_set(fs_name)
    spec = registry.get(arch)
    config = tiny_config(spec, fs, lookback=_lookback(spec))
    out = []
    state = None
    stamps = data.timestamps
    for end in [*cuts, len(stamps)]:
        prefix = MarketData(data.bars.loc[data.bars.index.get_level_values(0) <= stamps[end - 1]])
        result = evaluate_config(
            config,
            spec,
            build_inputs(prefix, fs),
            params,
            store=store,
            state=state,
            changes=changes,
        )
        assert result.status == "done", result.error
        state = result.state
        out.append(result)
    return out


def _concat(parts: list[EvaluationResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    sig = pd.concat([p.signals_frame() for p in parts])
    ret = pd.concat([p.returns_frame() for p in parts])
    return sig, ret


@pytest.mark.parametrize("arch", ARCHS)
def test_incremental_equals_full_bit_for_bit(market: MarketData, arch: str, tmp_path: Path) -> None:
    """Appending bars one at a time and in chunks (retrains falling inside chunks) gives
    exactly the signals and returns of one full evaluation of the same bars. Retrains
    are staggered (the default): the config's second block starts at its own offset."""
    spec = registry.get(arch)
    fs = "ohlcv" if spec.tags.feature_sets is None else spec.tags.feature_sets[0]
    params = replace(PARAMS, execution="next_open", stagger=True)
    full = _run(market, fs, arch, params, store=ArtifactStore(tmp_path / "full"))
    config = tiny_config(spec, get_feature_set(fs), lookback=_lookback(spec))
    second = PARAMS.min_train + retrain_offset(config.config_id, params.retrain_every)
    # the second block starts in here (the first prefix must reach the first prediction)
    one_by_one = list(range(max(second - 4, PARAMS.min_train + 1), second + 5))
    chunks = [second + 30, second + 81, second + 160]  # later refits fall inside chunks
    parts = _incremental(
        market, fs, arch, params, ArtifactStore(tmp_path / "a"), one_by_one + chunks
    )
    sig, ret = _concat(parts)
    assert sig.index.is_unique and ret.index.is_unique  # no bar evaluated twice
    pd.testing.assert_frame_equal(sig, full.signals_frame(), check_exact=True)
    pd.testing.assert_frame_equal(ret, full.returns_frame(), check_exact=True)
    assert parts[-1].state is not None and full.state is not None
    assert parts[-1].state.n_retrains == full.state.n_retrains
    # Single new bars fit nothing, except the one where the second block starts (if a
    # model could be fitted there at all: the GARCH family needs 250 rows per asset).
    singles = {one_by_one[k - 1]: p.n_retrains for k, p in enumerate(parts[1 : len(one_by_one)], 1)}
    assert all(n == 0 for bar, n in singles.items() if bar != second)
    fitted_at = {pd.Timestamp(ref.trained_at) for ref in full.artifacts}
    assert singles[second] == int(market.timestamps[second] in fitted_at)


@pytest.mark.parametrize("arch", ["ridge", "lightgbm"])
def test_schedule_changes_are_the_same_in_incremental_and_full_runs(
    market: MarketData, arch: str, tmp_path: Path
) -> None:
    """A forced refit and a switch to another stored model (what the health monitor
    decides, `factory.monitor.retrain`) start blocks at the bar after their ``after``: a
    full evaluation given the same changes gives exactly the incremental one's signals
    and returns, and both differ from the run without them from that bar on (only)."""
    spec = registry.get(arch)
    fs_name = "ohlcv"
    fs = get_feature_set(fs_name)
    config = tiny_config(spec, fs, lookback=_lookback(spec))
    stamps = market.timestamps
    # A donor model, fitted elsewhere (another config's artifact): what a won challenger is.
    donor_store = ArtifactStore(tmp_path / "shared")
    plain = evaluate_config(config, spec, build_inputs(market, fs), PARAMS, store=donor_store)
    assert plain.status == "done" and plain.artifacts
    donor = plain.artifacts[1]  # the block at bar 200
    swap_model = ModelRef(donor.uri, donor.sha256, donor.trained_at, plain.state.model.features)  # type: ignore[union-attr]
    refit_after, swap_after = stamps[233].to_pydatetime(), stamps[301].to_pydatetime()
    changes = (ScheduleChange(refit_after), ScheduleChange(swap_after, swap_model))
    full = evaluate_config(
        config, spec, build_inputs(market, fs), PARAMS, store=donor_store, changes=changes
    )
    assert full.status == "done", full.error
    parts = _incremental(
        market, fs_name, arch, PARAMS, donor_store, [230, 234, 235, 302, 303, 350], changes
    )
    sig, ret = _concat(parts)
    pd.testing.assert_frame_equal(sig, full.signals_frame(), check_exact=True)
    pd.testing.assert_frame_equal(ret, full.returns_frame(), check_exact=True)
    # The forced refit fitted a model at bar 234 (the first bar after 233), which the
    # plain schedule (blocks at 150, 200, 250, ...) does not have; bar 234's part fitted it.
    assert stamps[234] in {pd.Timestamp(a.trained_at) for a in full.artifacts}
    assert stamps[234] not in {pd.Timestamp(a.trained_at) for a in plain.artifacts}
    assert parts[2].n_retrains == 1  # the part ending at bar 234
    # Up to bar 233 nothing changed; from bar 234 on the signals differ.
    s_plain, s_full = plain.signals_frame(), full.signals_frame()
    before = s_full.index <= stamps[233]
    assert np.array_equal(s_plain[before].to_numpy(), s_full[before].to_numpy(), equal_nan=True)
    assert not np.array_equal(
        s_plain.loc[stamps[234] : stamps[249]].to_numpy(),
        s_full.loc[stamps[234] : stamps[249]].to_numpy(),
        equal_nan=True,
    )
    # The regular schedule restarts at each change: 234 + 50, and after the switch at
    # bar 302 (no fit there) 302 + 50.
    fitted = {pd.Timestamp(a.trained_at) for a in full.artifacts}
    assert {stamps[284], stamps[352]} <= fitted and stamps[302] not in fitted
    # The switched-to model predicts from bar 302: the part ending at bar 302 switched.
    assert parts[3].state is not None and parts[3].state.model != swap_model
    assert parts[4].state is not None and parts[4].state.model == swap_model


def test_bars_before_the_first_model_are_no_track_record(
    market: MarketData, tmp_path: Path
) -> None:
    """With too few samples for the first blocks there is no model: no rows at all
    until the first fit (they are not zero-return track record)."""
    spec = spec_from_class(_NeedsHistory)
    fs = get_feature_set("ohlcv")
    store = ArtifactStore(tmp_path / "art")
    inputs = build_inputs(market, fs)
    result = evaluate_config(tiny_config(spec, fs), spec, inputs, PARAMS, store=store)
    assert result.status == "done", result.error
    first_fit = pd.Timestamp(result.artifacts[0].trained_at)
    assert first_fit > market.timestamps[PARAMS.min_train]  # earlier blocks had no model
    assert result.returns_frame().index[0] == first_fit
    assert result.signals_frame().index[0] == first_fit
    assert any("too few training samples" in n for n in result.notes)


class _NeedsHistory(Architecture):
    """Predicts the sample mean; needs 700 training samples."""

    name = "needs_history_test_arch"
    tags = Tags(family="classical", input="tabular", min_history=700, lookback_use="none")

    def __init__(self) -> None:
        pass

    def _fit(self, X, y, *, seed, groups):  # type: ignore[no-untyped-def]
        self.mean_ = float(y.mean())

    def _predict(self, X):  # type: ignore[no-untyped-def]
        return self.mean_ + X[:, -1] * 1e-6

    def _save(self, path):  # type: ignore[no-untyped-def]
        (path / "m.txt").write_text(repr(self.mean_))

    def _load(self, path):  # type: ignore[no-untyped-def]
        self.mean_ = float((path / "m.txt").read_text())


# -- gaps in the calendar ------------------------------------------------------------
def _with_gaps(data: MarketData) -> MarketData:
    """Asset SYN001 trades on weekdays only (equity beside crypto-like assets) except that
    it is halted for three bars; SYN002 lists late."""
    bars = data.bars.copy()
    ts = bars.index.get_level_values("timestamp")
    asset = bars.index.get_level_values("asset")
    stamps = data.timestamps
    weekend = pd.DatetimeIndex(ts).day_of_week >= 5
    halt = ts.isin(stamps[300:303])
    drop = ((asset == "SYN001") & (weekend | halt)) | ((asset == "SYN002") & (ts < stamps[60]))
    return MarketData(bars.loc[~drop])


@pytest.fixture(scope="module")
def gappy() -> MarketData:
    from factory.data.synth import synth_universe

    # Put the synthetic bars on a 7-day calendar (k-th business day -> k-th day), then
    # take SYN001's weekends away.
    u = synth_universe(3, 560, seed=4, start="2015-01-01")
    days = pd.date_range("2015-01-01", periods=560, freq="D")
    business = pd.bdate_range("2015-01-01", periods=560)
    frame = u.bars.copy()
    frame["timestamp"] = days[business.get_indexer(frame["timestamp"])]
    return _with_gaps(MarketData.from_long(frame))


def test_an_equity_beside_crypto_keeps_its_signals_after_weekends(gappy: MarketData) -> None:
    """Windows count the asset's own bars: after a weekend (or a halt) the equity has a
    signal at its very next bar, and across the gap its position is held, not traded."""
    result = _run(gappy, "ohlcv", "lightgbm", replace(PARAMS, min_train=200))
    sig = result.signals_frame()
    has_bar = gappy.panel()["close"].notna().reindex(sig.index)
    # every bar where SYN001 trades (after its first model) gets a signal
    assert sig["SYN001"][has_bar["SYN001"]].notna().all()
    assert sig["SYN001"][~has_bar["SYN001"]].isna().all()
    # Mondays after a weekend have signals too (the window skips Saturday and Sunday)
    mondays = sig.index[(sig.index.day_of_week == 0) & has_bar["SYN001"].to_numpy()]
    assert len(mondays) > 20 and sig.loc[mondays, "SYN001"].notna().all()


def test_every_bar_is_booked_across_gaps(gappy: MarketData) -> None:
    """A row for every bar after the first model, weekends and the halt included, all
    finite (the ledger's hand-computed cases are in test_book.py)."""
    result = _run(gappy, "ohlcv", "lightgbm", replace(PARAMS, min_train=200))
    ret = result.returns_frame()
    stamps = gappy.timestamps
    assert list(ret.index) == list(stamps[stamps >= ret.index[0]])
    assert np.isfinite(ret.to_numpy()).all()
    assert (ret.index.day_of_week >= 5).sum() > 50


# -- artifacts, inference and failures ------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_loaded_artifact_predicts_what_the_engine_did(
    market: MarketData, arch: str, tmp_path: Path
) -> None:
    """Online inference (`last_bar_signals` on a loaded artifact) gives exactly the signal
    the engine stored for the last bar, from features with extra and reordered columns."""
    from factory.evaluation.predict import FeatureSchemaError, last_bar_signals

    spec = registry.get(arch)
    fs = get_feature_set("ohlcv" if spec.tags.feature_sets is None else spec.tags.feature_sets[0])
    config = tiny_config(spec, fs, lookback=_lookback(spec))
    inputs = build_inputs(market, fs)
    store = ArtifactStore(tmp_path / "art")
    result = evaluate_config(config, spec, inputs, PARAMS, store=store)
    assert result.status == "done", result.error
    assert len(result.artifacts) == result.n_retrains > 1
    last = result.artifacts[-1]
    with store.open(last.uri, last.sha256) as (directory, schema):
        pipeline = FittedPipeline.load(directory, spec, schema)
    assert schema["features"] == list(pipeline.preprocessor.names)
    assert schema["lookback"] == config.lookback and schema["dtype"] == "float32"
    ff = inputs.features
    order = list(reversed(range(len(ff.names))))
    shuffled = FeatureFrame(
        np.concatenate([ff.values[:, :, order], np.zeros_like(ff.values[:, :, :1])], axis=2),
        ff.timestamps,
        ff.assets,
        (*[ff.names[i] for i in order], "unrelated_extra"),
    )
    got = last_bar_signals(pipeline, shuffled, inputs.close)
    stored = result.signals_frame().iloc[-1].dropna()
    assert list(got.index) == list(stored.index)
    assert np.array_equal(got.to_numpy().astype(np.float32), stored.to_numpy())
    needed = pipeline.preprocessor.input_names[0]
    keep = [i for i, n in enumerate(ff.names) if n != needed]
    missing = FeatureFrame(
        ff.values[:, :, keep], ff.timestamps, ff.assets, tuple(ff.names[i] for i in keep)
    )
    with pytest.raises(FeatureSchemaError, match=needed):
        last_bar_signals(pipeline, missing, inputs.close)


def test_tampered_artifact_is_refused(market: MarketData, tmp_path: Path) -> None:
    from factory.artifacts import ArtifactIntegrityError

    store = ArtifactStore(tmp_path / "art")
    result = _run(market, "ohlcv", "lightgbm", store=store)
    ref = result.artifacts[0]
    path = store.root / ref.uri
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="refusing"), store.open(ref.uri, ref.sha256):
        pass


def test_artifacts_are_never_overwritten(market: MarketData, tmp_path: Path) -> None:
    """A re-evaluation writes new files; the ones a database row points at stay intact."""
    store = ArtifactStore(tmp_path / "art")
    first = _run(market, "ohlcv", "lightgbm", store=store)
    again = _run(market, "ohlcv", "lightgbm", store=store)
    assert {r.uri for r in first.artifacts}.isdisjoint({r.uri for r in again.artifacts})
    for ref in first.artifacts:
        store.verify(ref.uri, ref.sha256)


class _Exploding(Architecture):
    """Raises in fit (a config that fails)."""

    name = "exploding_test_arch"
    tags = Tags(family="classical", input="tabular", min_history=10, lookback_use="none")

    def __init__(self, when: str = "fit") -> None:
        self.when = when

    def _fit(self, X, y, *, seed, groups):  # type: ignore[no-untyped-def]
        raise FloatingPointError("boom in fit")

    def _predict(self, X):  # type: ignore[no-untyped-def]
        return np.zeros(len(X))

    def _save(self, path):  # type: ignore[no-untyped-def]
        pass

    def _load(self, path):  # type: ignore[no-untyped-def]
        pass


def test_a_failing_config_becomes_a_failed_result(market: MarketData) -> None:
    spec = spec_from_class(_Exploding)
    fs = get_feature_set("ohlcv")
    result = evaluate_config(tiny_config(spec, fs), spec, build_inputs(market, fs), PARAMS)
    assert result.status == "failed" and result.state is None
    assert "FloatingPointError: boom in fit" in (result.error or "")


def test_inputs_must_align() -> None:
    frame = FeatureFrame(np.zeros((3, 2, 1)), pd.date_range("2020", periods=3), ("A", "B"), ("f",))
    with pytest.raises(ValueError, match="aligned"):
        EvalInputs(frame, np.zeros((3, 1)))


# -- skill where it exists, none where it does not ------------------------------------
def _sharpe(x: np.ndarray) -> float:
    return float(np.mean(x) / np.std(x, ddof=1) * np.sqrt(252))


@pytest.fixture(scope="module")
def skill_runs() -> dict[str, dict[str, float]]:
    """Every architecture on planted-signal data and on pure-noise data (same seed).
    The planted signal is one-bar mean reversion, so trades fill at the deciding bar's
    close here; the delay of the default execution is studied in docs/metrics.md."""
    params = EvalParams(min_train=400, retrain_every=250, execution="close")
    fs = get_feature_set("ohlcv")
    out: dict[str, dict[str, float]] = {"planted": {}, "none": {}}
    for signal in out:
        data = synth_market(8, 1400, seed=5, signal=signal, extras=False)
        inputs = build_inputs(data, fs)
        for arch in ARCHS:
            spec = registry.get(arch)
            if spec.tags.feature_sets is not None and "ohlcv" not in spec.tags.feature_sets:
                continue
            lookback = 10 if spec.tags.lookbacks is None else min(spec.tags.lookbacks)
            config = tiny_config(spec, fs, lookback=lookback, **dict(spec.default_params))
            result = evaluate_config(config, spec, inputs, params)
            assert result.status == "done", result.error
            out[signal][arch] = _sharpe(result.net)
    return out


@pytest.mark.xdist_group("skill")
@pytest.mark.parametrize("arch", ARCHS)
def test_planted_signal_is_found_out_of_sample(
    skill_runs: dict[str, dict[str, float]], arch: str
) -> None:
    assert skill_runs["planted"][arch] > 1.0, skill_runs
    assert skill_runs["planted"][arch] > skill_runs["none"][arch] + 1.0, skill_runs


@pytest.mark.xdist_group("skill")
def test_no_skill_is_found_in_noise(skill_runs: dict[str, dict[str, float]]) -> None:
    noise = skill_runs["none"]
    assert np.mean(list(noise.values())) < 0.5, noise
    assert max(noise.values()) < 1.25, noise
