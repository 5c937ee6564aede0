"""The live portfolio's pure layers: ensemble weights, each book on hand-computed
examples, the risk limits (hand examples and random inputs) and cash when the live set is
too small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from factory.book.sizing import BookSpec
from factory.portfolio import (
    RiskLimits,
    apply_limits,
    build_portfolio,
    ensemble_signals,
    shrunk_covariance,
)
from factory.portfolio.ensemble import (
    inverse_vol_weights,
    score_weights,
    stacked_weights,
)
from factory.portfolio.risk import predicted_vol

NAN = np.nan


def _signals() -> pd.DataFrame:
    return pd.DataFrame(
        {"A": [0.5, 1.0, NAN], "B": [-0.5, NAN, NAN], "C": [0.2, 0.4, 0.6]},
        index=["c1", "c2", "c3"],
    )


# -- ensemble ------------------------------------------------------------------------------
def test_weighted_ensemble_ignores_members_without_a_view() -> None:
    w = pd.Series({"c1": 0.5, "c2": 0.25, "c3": 0.25})
    ens = ensemble_signals(_signals(), w)
    # A: (0.5*0.5 + 0.25*1.0) / 0.75; B: only c1 votes; C: all three.
    assert ens["A"] == pytest.approx((0.25 + 0.25) / 0.75)
    assert ens["B"] == pytest.approx(-0.5)
    assert ens["C"] == pytest.approx(0.5 * 0.2 + 0.25 * 0.4 + 0.25 * 0.6)
    # Equal weights reduce to the plain mean over the voters.
    assert ensemble_signals(_signals()).to_dict() == pytest.approx({"A": 0.75, "B": -0.5, "C": 0.4})


def test_score_and_inverse_vol_weights() -> None:
    members = ["c1", "c2", "c3"]
    got = score_weights(pd.Series({"c1": 3.0, "c2": 1.0, "c3": -2.0}), members)
    assert got.to_dict() == pytest.approx({"c1": 0.75, "c2": 0.25, "c3": 0.0})
    # Nothing positive: equal.
    assert score_weights(pd.Series({"c1": -1.0}), members).tolist() == pytest.approx([1 / 3] * 3)
    rng = np.random.default_rng(0)
    returns = pd.DataFrame(
        {"c1": rng.normal(0, 0.01, 200), "c2": rng.normal(0, 0.02, 200), "c3": NAN}
    )
    iv = inverse_vol_weights(returns, members, window=200)
    sd = returns[["c1", "c2"]].std()
    assert iv["c1"] / iv["c2"] == pytest.approx(sd["c2"] / sd["c1"])
    # c3 has no record: it gets the mean inverse vol of the others.
    assert iv["c3"] == pytest.approx((iv["c1"] + iv["c2"]) / 2)
    assert iv.sum() == pytest.approx(1.0)


def _stack_inputs(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2020-01-01", periods=300, freq="B")
    assets = ["A", "B", "C"]
    fwd = pd.DataFrame(rng.normal(0, 0.01, (300, 3)), index=ts, columns=assets)
    rows = []
    for t in ts:
        for a in assets:
            rows.append(("good", a, t, float(np.tanh(fwd.loc[t, a] * 100))))
            rows.append(("noise", a, t, float(rng.uniform(-1, 1))))
    sig = pd.DataFrame(rows, columns=["config_id", "asset", "ts", "signal"])
    return sig, fwd


def test_stacked_weights_favour_the_member_that_forecasts() -> None:
    sig, fwd = _stack_inputs()
    w = stacked_weights(sig, fwd, ["good", "noise"])
    assert w["good"] > 0.9 and w.sum() == pytest.approx(1.0) and (w >= 0).all()


def test_stacked_weights_use_only_the_returns_they_are_given() -> None:
    # The caller passes only labels known at the fitting time; rows after them must not
    # matter even when signals exist there.
    sig, fwd = _stack_inputs()
    cut = fwd.index[199]
    base = stacked_weights(sig, fwd.loc[:cut], ["good", "noise"])
    perturbed_sig = sig.copy()
    late = perturbed_sig["ts"] > cut
    perturbed_sig.loc[late, "signal"] = -perturbed_sig.loc[late, "signal"]
    again = stacked_weights(perturbed_sig, fwd.loc[:cut], ["good", "noise"])
    assert again.to_dict() == pytest.approx(base.to_dict())


# -- books through build_portfolio -------------------------------------------------------
def _one_member(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([values], index=["c1"])


def test_timeseries_book() -> None:
    out = build_portfolio(
        _one_member({"A": 0.6, "B": -0.3, "C": NAN}),
        book=BookSpec("timeseries"),
        limits=RiskLimits(),
        universe=["A", "B", "C"],
    )
    # s / n over the two assets with a view; C (no view) is flat.
    assert out.weights.to_dict() == pytest.approx({"A": 0.3, "B": -0.15})
    assert out.gross == pytest.approx(0.45) and out.note == ""


def test_cross_sectional_book_is_dollar_neutral_ranks() -> None:
    out = build_portfolio(
        _one_member({"A": 0.9, "B": 0.1, "C": -0.4, "D": 0.3}),
        book=BookSpec("cross_sectional", cs_method="rank"),
        limits=RiskLimits(),
    )
    # ranks C=1, B=2, D=3, A=4, centred -1.5,-0.5,0.5,1.5, scaled to gross 1.
    assert out.weights.to_dict() == pytest.approx(
        {"A": 0.375, "B": -0.125, "C": -0.375, "D": 0.125}
    )
    assert out.net == pytest.approx(0.0)


def test_long_only_book_tilts_and_counts_assets_without_a_view() -> None:
    out = build_portfolio(
        _one_member({"A": 1.0, "B": -1.0}),
        book=BookSpec("long_only", tilt=0.5),
        limits=RiskLimits(),
        universe=["A", "B", "C"],
    )
    # raw 1.5, 0.5, 1.0 (C neutral) -> / 3.
    assert out.weights.to_dict() == pytest.approx({"A": 0.5, "B": 1 / 6, "C": 1 / 3})
    assert out.net == pytest.approx(1.0)


def test_empty_or_small_live_set_is_cash_with_the_reason() -> None:
    empty = build_portfolio(
        pd.DataFrame(), book=BookSpec("long_only"), limits=RiskLimits(), universe=["A"]
    )
    assert empty.weights.empty and empty.gross == 0.0 and empty.cash == 1.0
    assert "cash: no active config has a signal" in empty.note
    small = build_portfolio(
        _one_member({"A": 0.5}), book=BookSpec(), limits=RiskLimits(min_members=3)
    )
    assert small.weights.empty
    assert "1 active config(s) with a signal, fewer than the minimum 3" in small.note


# -- risk limits: hand examples -------------------------------------------------------
def test_vol_target_scales_and_says_by_how_much() -> None:
    # Two uncorrelated assets with daily variance 1e-4 (vol 1%/day, 15.87%/yr at 252).
    cov = pd.DataFrame(np.diag([1e-4, 1e-4]), index=["A", "B"], columns=["A", "B"])
    w = pd.Series({"A": 0.5, "B": 0.5})
    vol = predicted_vol(w, cov, 252)
    assert vol == pytest.approx(np.sqrt(0.5 * 1e-4 * 252))
    out, bound = apply_limits(w, RiskLimits(vol_target=0.07), covariance=cov)
    scale = 0.07 / vol
    assert out.to_dict() == pytest.approx({"A": 0.5 * scale, "B": 0.5 * scale})
    assert [b.rule for b in bound] == ["vol_target"]
    assert bound[0].factor == pytest.approx(scale)
    assert f"scaled {scale:.2f} to the 7% vol target" in bound[0].detail
    # Never levered up.
    same, none = apply_limits(w, RiskLimits(vol_target=0.5), covariance=cov)
    assert same.equals(w) and none == ()


def test_caps_net_gross_and_turnover_each_reported() -> None:
    w = pd.Series({"NVDA": 0.6, "AAPL": 0.3, "XOM": 0.1})
    out, bound = apply_limits(w, RiskLimits(max_weight=0.2, net_limit=0.5))
    assert out.to_dict() == pytest.approx({"NVDA": 0.2, "AAPL": 0.2, "XOM": 0.1})
    assert bound[0].detail == "AAPL, NVDA capped at 20%"
    assert bound == bound[:1]  # net 0.5 after the caps: the net limit does not bind
    out, bound = apply_limits(w, RiskLimits(gross_limit=0.5))
    assert out.abs().sum() == pytest.approx(0.5) and bound[0].rule == "gross"
    prev = pd.Series({"XOM": 0.5})
    out, bound = apply_limits(w, RiskLimits(max_turnover=0.4), previous=prev)
    assert (
        out.reindex(["NVDA", "AAPL", "XOM"]).fillna(0)
        - prev.reindex(["NVDA", "AAPL", "XOM"]).fillna(0)
    ).abs().sum() == pytest.approx(0.4)
    assert bound[-1].rule == "turnover" and "turnover 1.30 limited to 0.4" in bound[-1].detail


def test_shrunk_covariance_is_ledoit_wolf() -> None:
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(1)
    r = pd.DataFrame(rng.normal(0, 0.01, (120, 3)), columns=["A", "B", "C"])
    r.loc[:100, "C"] = NAN  # too short a record: left out
    cov = shrunk_covariance(r, window=120, min_obs=60)
    assert cov is not None and list(cov.columns) == ["A", "B"]
    x = (r[["A", "B"]] - r[["A", "B"]].mean()).to_numpy()
    assert np.allclose(cov.to_numpy(), LedoitWolf(assume_centered=True).fit(x).covariance_)


# -- risk limits: random inputs -----------------------------------------------------------
_weights = arrays(np.float64, 6, elements=st.floats(-2.0, 2.0, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(
    raw=_weights,
    prev_raw=_weights,
    max_weight=st.floats(0.05, 1.0),
    gross=st.floats(0.1, 2.0),
    net=st.one_of(st.none(), st.floats(0.0, 1.0)),
    vol=st.one_of(st.none(), st.floats(0.01, 0.5)),
    turnover=st.one_of(st.none(), st.floats(0.01, 2.0)),
    seed=st.integers(0, 2**16),
)
def test_limits_hold_on_random_inputs(
    raw: np.ndarray,
    prev_raw: np.ndarray,
    max_weight: float,
    gross: float,
    net: float | None,
    vol: float | None,
    turnover: float | None,
    seed: int,
) -> None:
    assets = [f"a{i}" for i in range(6)]
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 0.01, (6, 6))
    cov = pd.DataFrame(m @ m.T + np.eye(6) * 1e-5, index=assets, columns=assets)
    static = RiskLimits(max_weight=max_weight, gross_limit=gross, net_limit=net, vol_target=vol)
    # The previous book obeyed the limits (it was produced by them).
    previous, _ = apply_limits(pd.Series(prev_raw, index=assets), static, covariance=cov)
    limits = RiskLimits(
        max_weight=max_weight,
        gross_limit=gross,
        net_limit=net,
        vol_target=vol,
        max_turnover=turnover,
    )
    out, bound = apply_limits(
        pd.Series(raw, index=assets), limits, previous=previous, covariance=cov
    )
    out = out.reindex(assets).fillna(0.0)
    tol = 1e-9
    assert (out.abs() <= max_weight + tol).all()
    assert out.abs().sum() <= gross + tol
    if net is not None:
        assert abs(out.sum()) <= net + tol
    if vol is not None:
        assert predicted_vol(out, cov, 252) <= vol * (1 + 1e-9) + tol
    if turnover is not None:
        assert (out - previous.reindex(assets).fillna(0.0)).abs().sum() <= turnover + 1e-9
    assert all(b.detail for b in bound)
