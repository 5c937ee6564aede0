"""Contracts of the eight pipelines: declared inputs, warm-up, ranges, scale invariance,
the asset bar clock and the optional-column branches."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from features import FeatureFrame, Panel, get_feature_set
from features.registry import feature_sets
from tests.features.helpers import ALL_EXTRAS, dense_panel
from tests.strategies import AssetShape, PanelSpec, ohlcv_panels, synthetic_panel

PIPELINES = (
    "ohlcv",
    "technical",
    "momentum",
    "volatility",
    "orderflow",
    "cross_asset",
    "sentiment",
    "onchain",
)
PRICE_COLUMNS = ("open", "high", "low", "close", "bid", "ask")


def scaled(panel: Panel, columns: tuple[str, ...], factor: float) -> Panel:
    return Panel({k: v * factor if k in columns else v for k, v in panel.fields.items()})


def test_the_eight_pipelines_are_registered_in_design_order() -> None:
    assert tuple(feature_sets()) == PIPELINES


@pytest.mark.parametrize(
    ("name", "requires"),
    [
        ("ohlcv", {"open", "high", "low", "close", "volume"}),
        ("technical", {"high", "low", "close", "volume"}),
        ("momentum", {"close"}),
        ("volatility", {"close"}),
        ("orderflow", {"close", "volume"}),
        ("cross_asset", {"close"}),
        ("sentiment", {"close", "sentiment_score"}),
        ("onchain", {"close", "onchain_*"}),
    ],
)
def test_each_pipeline_declares_what_it_reads(name: str, requires: set[str]) -> None:
    fs = get_feature_set(name)
    assert fs.requires == frozenset(requires)
    panel = dense_panel(n_bars=40)
    read = set(fs.reads(panel.columns))
    assert {c for c in requires if not c.endswith("*")} <= read
    bars_only = Panel({k: panel[k] for k in ("open", "high", "low", "close", "volume")})
    if fs.missing(bars_only.columns):
        with pytest.raises(ValueError, match="needs columns"):
            fs(bars_only)
    else:
        fs(bars_only)


def test_reads_expands_prefixes_and_optional_columns() -> None:
    panel = dense_panel(n_bars=40)
    assert get_feature_set("onchain").reads(panel.columns) == (
        "close",
        "onchain_active_addresses",
        "onchain_exchange_netflow",
        "onchain_tx_count",
    )
    assert get_feature_set("orderflow").reads(panel.columns) == (
        "ask",
        "ask_size",
        "bid",
        "bid_size",
        "close",
        "volume",
    )


@pytest.mark.parametrize("name", PIPELINES)
def test_warmup_constant_is_the_first_complete_row(name: str) -> None:
    module = importlib.import_module(f"features.pipelines.{name}")
    frame = get_feature_set(name)(dense_panel())
    keep = [i for i, n in enumerate(frame.names) if not n.startswith("vpin")]
    complete = np.isfinite(frame.values[:, :, keep]).all(axis=(1, 2))
    first = int(np.argmax(complete))
    assert first == module.WARMUP
    assert complete[first:].all(), "no NaN may appear after the warm-up on gap-free data"


def test_vpin_is_defined_soon_after_the_bvc_warmup() -> None:
    frame = get_feature_set("orderflow")(dense_panel())
    for n in (10, 50):
        vpin = frame.feature(f"vpin_{n}").to_numpy()
        first = int(np.argmax(np.isfinite(vpin).all(axis=1)))
        assert 64 + n // 2 <= first <= 64 + 2 * n
        assert np.isfinite(vpin[first:]).all()


BOUNDS: dict[str, tuple[float, float]] = {
    "rsi_": (0.0, 1.0),
    "stoch_": (0.0, 1.0),
    "mfi_": (0.0, 1.0),
    "adx_": (0.0, 1.0),
    "willr_": (-1.0, 0.0),
    "obv_": (-1.0, 1.0),
    "di_": (-1.0, 1.0),
    "bb_width_": (0.0, np.inf),
    "bvc_imb_": (-1.0, 1.0),
    "vpin_": (0.0, 1.0),
    "depth_imb": (-1.0, 1.0),
    "spread": (0.0, np.inf),
    "corr_": (-1.0, 1.0),
    "lead_corr": (-1.0, 1.0),
    "lag_corr": (-1.0, 1.0),
    "avg_corr": (-1.0, 1.0),
    "vol_": (0.0, np.inf),
    "natr_": (0.0, np.inf),
    "dispersion": (0.0, np.inf),
    "close_pos": (0.0, 1.0),
    "range": (0.0, np.inf),
    "upper": (0.0, np.inf),
    "lower": (0.0, np.inf),
    "sent_age": (0.0, np.inf),
}


def _check_ranges(frame: FeatureFrame) -> None:
    v = frame.values
    assert not np.isinf(v).any()
    assert np.nanmax(np.abs(v), initial=0.0) < 1e4, "features must be numerically sane"
    for i, name in enumerate(frame.names):
        for prefix, (lo, hi) in BOUNDS.items():
            if name.startswith(prefix):
                col = v[:, :, i]
                col = col[np.isfinite(col)]
                assert ((col >= lo - 1e-12) & (col <= hi + 1e-12)).all(), name


@pytest.mark.parametrize("name", PIPELINES)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(panel=ohlcv_panels(min_assets=1, max_assets=4, extras=ALL_EXTRAS))
def test_values_are_finite_or_nan_and_within_their_ranges(name: str, panel: Panel) -> None:
    frame = get_feature_set(name)(panel)
    assert frame.values.shape == (*panel.shape, len(frame.names))
    assert frame.assets == panel.assets and frame.timestamps.equals(panel.index)
    _check_ranges(frame)
    no_bar = ~np.isfinite(panel["close"].to_numpy())
    assert np.isnan(frame.values[no_bar]).all(), "a row without a bar has no features"


@pytest.mark.parametrize("name", PIPELINES)
def test_features_do_not_depend_on_the_price_or_volume_unit(name: str) -> None:
    panel = dense_panel(n_bars=260)
    fs = get_feature_set(name)
    base = fs(panel)
    for columns in (PRICE_COLUMNS, ("volume",)):
        other = fs(scaled(panel, columns, 1000.0))
        assert other.names == base.names
        np.testing.assert_allclose(other.values, base.values, rtol=1e-6, atol=1e-9)


def _single_asset(close: np.ndarray, seed: int = 3) -> Panel:
    spec = PanelSpec(len(close), seed, (AssetShape(),), extras=("quotes",))
    panel = synthetic_panel(spec)
    ratio = close / panel["close"].to_numpy()[:, 0]
    return Panel(
        {k: (v.mul(ratio, axis=0) if k in PRICE_COLUMNS else v) for k, v in panel.fields.items()}
    )


@pytest.mark.parametrize("name", ["ohlcv", "technical", "momentum", "volatility", "orderflow"])
def test_a_missing_bar_is_skipped_on_the_assets_own_clock(name: str) -> None:
    """Per-asset pipelines count the asset's bars: a hole at row g gives the same values at
    every other row as the series with that row removed."""
    rng = np.random.default_rng(11)
    t, g = 240, 150
    panel = _single_asset(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, t))))
    hole = np.zeros(panel.shape, dtype=bool)
    hole[g] = True
    holed = Panel({k: v.mask(hole) for k, v in panel.fields.items()})
    dropped = Panel({k: v.drop(index=v.index[g]) for k, v in panel.fields.items()})
    fs = get_feature_set(name)
    with_hole, without_row = fs(holed), fs(dropped)
    assert np.isnan(with_hole.values[g]).all()
    np.testing.assert_array_equal(np.delete(with_hole.values, g, axis=0), without_row.values)


def test_orderflow_adds_quote_features_only_when_quotes_exist() -> None:
    fs = get_feature_set("orderflow")
    panel = dense_panel(n_bars=120)
    bvc = ("bvc_imb_1", "bvc_imb_5", "bvc_imb_21", "vpin_10", "vpin_50")
    ofi = ("ofi_1", "ofi_5", "ofi_21", "depth_imb")
    bars = Panel({k: panel[k] for k in ("open", "high", "low", "close", "volume")})
    assert fs(bars).names == bvc
    sizes = Panel({k: panel[k] for k in (*bars.columns, "bid_size", "ask_size")})
    assert fs(sizes).names == (*bvc, *ofi)
    assert fs(panel).names == (*bvc, *ofi, "spread")


def test_sentiment_items_feature_needs_the_volume_column() -> None:
    panel = dense_panel(n_bars=80)
    fs = get_feature_set("sentiment")
    without = Panel({k: v for k, v in panel.fields.items() if k != "sentiment_volume"})
    assert "sent_items" in fs(panel).names
    assert "sent_items" not in fs(without).names


def test_onchain_transforms_every_metric_column() -> None:
    panel = dense_panel(n_bars=80)
    names = get_feature_set("onchain")(panel).names
    metrics = sorted(c for c in panel.columns if c.startswith("onchain_"))
    suffixes = ("chg_7", "chg_30", "z_30", "z_90", "ratio_7_30")
    assert names == tuple(f"{m}_{s}" for m in metrics for s in suffixes)


def test_onchain_features_are_nan_for_assets_without_onchain_data() -> None:
    spec = PanelSpec(120, 5, (AssetShape(), AssetShape()), extras=("onchain",), onchain_assets=(1,))
    frame = get_feature_set("onchain")(synthetic_panel(spec))
    assert np.isnan(frame.values[:, 0]).all()
    assert np.isfinite(frame.values[100:, 1]).any()


def test_cross_asset_with_one_asset_has_no_others() -> None:
    frame = get_feature_set("cross_asset")(dense_panel(n_bars=100, n_assets=1))
    for name in ("corr_others_21", "beta_others_63", "others_ret_1", "xs_z_5", "dispersion_1"):
        assert np.isnan(frame.feature(name).to_numpy()).all(), name
    corr = frame.feature("corr_ew_63").to_numpy()
    np.testing.assert_allclose(corr[np.isfinite(corr)], 1.0)


def test_flat_and_zero_volume_stretches_stay_defined() -> None:
    """A flat price and zero volume are not errors: the features that have a natural
    value there (zero flow, band midpoint, zero volatility) keep it instead of NaN."""
    spec = PanelSpec(400, 2, (AssetShape(flat=(0.3, 0.8), no_volume=(0.3, 0.8)),))
    panel = synthetic_panel(spec)
    rows = slice(120 + 60, 320)
    tech = get_feature_set("technical")(panel)
    np.testing.assert_array_equal(tech.feature("bb_pctb_20").to_numpy()[rows], 0.5)
    np.testing.assert_array_equal(tech.feature("obv_10").to_numpy()[rows], 0.0)
    flow = get_feature_set("orderflow")(panel)
    np.testing.assert_array_equal(flow.feature("bvc_imb_5").to_numpy()[rows], 0.0)
    vol = get_feature_set("volatility")(panel)
    np.testing.assert_array_equal(vol.feature("vol_parkinson_21").to_numpy()[rows], 0.0)
    ohlcv = get_feature_set("ohlcv")(panel)
    np.testing.assert_array_equal(ohlcv.feature("close_pos").to_numpy()[rows], 0.5)
    np.testing.assert_array_equal(ohlcv.feature("volume").to_numpy()[rows], 0.0)


def test_volatility_on_closes_alone_is_its_close_to_close_part() -> None:
    """Close-only data (no open/high/low) gets the close-to-close rows, identical to those
    of the full computation, and nothing range-based (no approximation from closes)."""
    panel = dense_panel(n_bars=200)
    fs = get_feature_set("volatility")
    full = fs(panel)
    closes_only = fs(Panel({"close": panel["close"]}))
    expected = [n for n in full.names if n.startswith(("vol_cc_", "vol_of_vol", "vol_ratio_"))]
    assert list(closes_only.names) == expected
    assert not any(
        n.startswith(("natr", "vol_parkinson", "vol_gk", "vol_yz")) for n in closes_only.names
    )
    keep = [list(full.names).index(n) for n in expected]
    np.testing.assert_array_equal(closes_only.values, full.values[..., keep])
