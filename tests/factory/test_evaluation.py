"""Walk-forward evaluation: schedule arithmetic, accounting, look-ahead safety for every
architecture and every feature pipeline, artifacts, failures, and that skill is found
where it exists and not where it does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from architectures import registry
from architectures.base import Architecture, Tags
from architectures.registry import spec_from_class
from factory.artifacts import ArtifactStore
from factory.evaluation.backtest import next_returns, pnl
from factory.evaluation.engine import EvalParams, evaluate_config
from factory.evaluation.inputs import build_inputs
from factory.evaluation.pipeline import FittedPipeline
from factory.evaluation.schedule import blocks
from features.registry import feature_sets, get_feature_set
from tests.factory.helpers import perturb_after, synth_market, tiny_config

PARAMS = EvalParams(min_train=150, retrain_every=50, cost_bps=5.0, horizon=1, purge=1)
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


def test_pnl_by_hand() -> None:
    close = np.array([[100.0, 50.0], [110.0, 50.0], [99.0, 55.0], [99.0, 55.0]])
    signals = np.array([[1.0, -1.0], [1.0, np.nan], [-0.5, 0.5], [0.0, 0.0]])
    out = pnl(signals, next_returns(close), cost_bps=10.0)
    # weights: row0 [0.5, -0.5]; row1 [1.0, 0] (one asset with a view); row2 [-0.25, 0.25]
    assert np.allclose(out.weights[:3], [[0.5, -0.5], [1.0, 0.0], [-0.25, 0.25]])
    gross = [0.5 * 0.10 - 0.5 * 0.0, 1.0 * (99 / 110 - 1), -0.25 * 0.0 + 0.25 * 0.0]
    turnover = [1.0, 0.5 + 0.5, 1.25 + 0.25]
    assert np.allclose(out.gross, gross)
    assert np.allclose(out.turnover, turnover)
    assert np.allclose(out.net, np.array(gross) - 0.001 * np.array(turnover))
    assert len(out.net) == 3  # the last bar's position is not realised yet


@pytest.fixture(scope="module")
def market():  # type: ignore[no-untyped-def]
    return synth_market(3, 400, seed=11)


def _perturbed_pair(market, fs_name: str, arch: str, **params: object):  # type: ignore[no-untyped-def]
    cut = market.timestamps[300]
    fs = get_feature_set(fs_name)
    spec = registry.get(arch)
    config = tiny_config(spec, fs, **params)
    full = evaluate_config(config, spec, build_inputs(market, fs), PARAMS)
    perturbed = evaluate_config(config, spec, build_inputs(perturb_after(market, cut), fs), PARAMS)
    assert full.status == "done", full.error
    assert perturbed.status == "done", perturbed.error
    return cut, full, perturbed


def _assert_past_unchanged(cut, full, perturbed) -> None:  # type: ignore[no-untyped-def]
    s_full, s_pert = full.signals_frame(), perturbed.signals_frame()
    past = s_full.index <= cut
    assert past.sum() > 100
    assert np.array_equal(s_full[past].to_numpy(), s_pert[past].to_numpy(), equal_nan=True)
    r_full, r_pert = full.returns_frame(), perturbed.returns_frame()
    rpast = r_full.index <= cut
    pd.testing.assert_frame_equal(r_full[rpast], r_pert[rpast])
    # The perturbation reached the future, so the check above was not vacuous.
    assert not np.array_equal(s_full[~past].to_numpy(), s_pert[~past].to_numpy(), equal_nan=True)


@pytest.mark.parametrize("arch", ARCHS)
def test_no_lookahead_per_architecture(market, arch: str) -> None:  # type: ignore[no-untyped-def]
    """Perturb every bar after t: every signal and every return up to t is unchanged."""
    fs = "ohlcv"
    _assert_past_unchanged(*_perturbed_pair(market, fs, arch))


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_no_lookahead_per_pipeline(market, pipeline: str) -> None:  # type: ignore[no-untyped-def]
    """The whole evaluation path per feature pipeline (with feature selection on)."""
    _assert_past_unchanged(*_perturbed_pair(market, pipeline, "lightgbm", selection="correlation"))


@pytest.mark.parametrize("arch", ARCHS)
def test_loaded_artifact_predicts_what_the_engine_did(market, arch: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = registry.get(arch)
    fs = get_feature_set("ohlcv")
    config = tiny_config(spec, fs)
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
    # Recompute the last block's signals from the loaded artifact.
    ts = inputs.features.timestamps
    start = int(ts.searchsorted(pd.Timestamp(last.trained_at)))
    values = inputs.features.values if spec.input != "series" else inputs.features.values[:, :, :1]
    region = pipeline.preprocessor.transform(values)
    from features.windows import valid_samples

    ok = valid_samples(region, config.lookback)[start:]
    tt, aa = np.nonzero(ok)
    again = pipeline.signals(region, tt + start, aa, inputs.features.assets)
    stored = result.signals_frame().loc[ts[start:]].to_numpy()[tt, aa]
    assert np.array_equal(again.astype(np.float32), stored)


def test_tampered_artifact_is_refused(market, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from factory.artifacts import ArtifactIntegrityError

    spec = registry.get("lightgbm")
    fs = get_feature_set("ohlcv")
    store = ArtifactStore(tmp_path / "art")
    result = evaluate_config(
        tiny_config(spec, fs), spec, build_inputs(market, fs), PARAMS, store=store
    )
    ref = result.artifacts[0]
    path = store.root / ref.uri
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="refusing"), store.open(ref.uri, ref.sha256):
        pass


class _Exploding(Architecture):
    """Raises in fit (a config that fails)."""

    name = "exploding_test_arch"
    tags = Tags(family="classical", input="tabular", min_history=10)

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


def test_a_failing_config_becomes_a_failed_result(market) -> None:  # type: ignore[no-untyped-def]
    spec = spec_from_class(_Exploding)
    fs = get_feature_set("ohlcv")
    result = evaluate_config(tiny_config(spec, fs), spec, build_inputs(market, fs), PARAMS)
    assert result.status == "failed"
    assert "FloatingPointError: boom in fit" in (result.error or "")


def _sharpe(x: np.ndarray) -> float:
    return float(np.mean(x) / np.std(x, ddof=1) * np.sqrt(252))


@pytest.fixture(scope="module")
def skill_runs():  # type: ignore[no-untyped-def]
    """Every architecture on planted-signal data and on pure-noise data (same seed)."""
    params = EvalParams(min_train=400, retrain_every=250, cost_bps=5.0)
    fs = get_feature_set("ohlcv")
    out: dict[str, dict[str, float]] = {"planted": {}, "none": {}}
    for signal in out:
        data = synth_market(8, 1400, seed=5, signal=signal, extras=False)
        inputs = build_inputs(data, fs)
        for arch in ARCHS:
            spec = registry.get(arch)
            config = tiny_config(spec, fs, lookback=10, **dict(spec.default_params))
            result = evaluate_config(config, spec, inputs, params)
            assert result.status == "done", result.error
            out[signal][arch] = _sharpe(result.net)
    return out


@pytest.mark.xdist_group("skill")
@pytest.mark.parametrize("arch", ARCHS)
def test_planted_signal_is_found_out_of_sample(skill_runs, arch: str) -> None:  # type: ignore[no-untyped-def]
    assert skill_runs["planted"][arch] > 1.0, skill_runs


@pytest.mark.xdist_group("skill")
def test_no_skill_is_found_in_noise(skill_runs) -> None:  # type: ignore[no-untyped-def]
    noise = skill_runs["none"]
    assert np.mean(list(noise.values())) < 0.5, noise
    assert max(noise.values()) < 1.25, noise


@pytest.mark.parametrize("arch", ARCHS)
def test_last_bar_signals_match_the_engine(market, arch: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Online inference (`last_bar_signals` on a loaded artifact) gives the signal the
    engine stored for the last bar, from features with extra and reordered columns."""
    from factory.evaluation.predict import FeatureSchemaError, last_bar_signals
    from features.frame import FeatureFrame

    spec = registry.get(arch)
    fs = get_feature_set("ohlcv")
    config = tiny_config(spec, fs)
    inputs = build_inputs(market, fs)
    store = ArtifactStore(tmp_path / "art")
    result = evaluate_config(config, spec, inputs, PARAMS, store=store)
    assert result.status == "done", result.error
    last = result.artifacts[-1]
    with store.open(last.uri, last.sha256) as (directory, schema):
        pipeline = FittedPipeline.load(directory, spec, schema)
    ff = inputs.features
    order = list(reversed(range(len(ff.names))))
    shuffled = FeatureFrame(
        np.concatenate([ff.values[:, :, order], np.zeros_like(ff.values[:, :, :1])], axis=2),
        ff.timestamps,
        ff.assets,
        (*[ff.names[i] for i in order], "unrelated_extra"),
    )
    got = last_bar_signals(pipeline, shuffled)
    stored = result.signals_frame().iloc[-1]
    assert list(got.index) == list(stored.dropna().index)
    np.testing.assert_allclose(got.to_numpy(), stored.dropna().to_numpy(), rtol=1e-6, atol=1e-7)
    missing = FeatureFrame(ff.values[:, :, 1:], ff.timestamps, ff.assets, ff.names[1:])
    if spec.input != "series" or ff.names[0] in pipeline.preprocessor.input_names:
        with pytest.raises(FeatureSchemaError, match=ff.names[0]):
            last_bar_signals(pipeline, missing)
