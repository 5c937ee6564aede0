"""Health and drift monitoring of one config: green / yellow / red, with every reason.

Pure: arrays and frames in, a frozen :class:`HealthReport` out; no I/O, no clock. The
factory calls :func:`assess` for every active config each cycle, records a change of
state as an event with ``HealthReport.reasons``, and passes ``state`` to
``rating.rate(..., health=...)`` (where "red" fails a gate).

A config is judged against **its own validation baseline**: its out-of-sample record
before promotion (what it was promoted on), compared with a **recent window** of live
predictions. Inputs (docs/metrics.md, "Health and drift monitoring"):

- :class:`Predictions` — one row per (bar, asset): the model's prediction (a return
  forecast or a signal), the realised target (the label: forward return over the
  horizon), the asset, the bar. Build it from long arrays or with
  :meth:`Predictions.from_wide` from two bars x assets frames.
- feature matrices — rows = samples (bar, asset), columns = input features: the
  training window the model was fitted on, and the recent window.

Checks (each gives green / yellow / red against ``HealthPolicy`` thresholds; the report's
state is the worst one):

1. prediction quality, recent vs baseline: RMSE and MAE ratios, R² drop, excess share
   of large errors (|e| > k·σ of the baseline errors);
2. fairness across assets: gap between the best- and worst-served asset's directional
   accuracy in the recent window, only when a χ² test says the assets really differ;
3. concept drift: drop of the directional accuracy over the last ``concept_window``
   bars vs the baseline, only when material *and* significant (two-proportion z-test);
4. data drift: two-sample Kolmogorov-Smirnov test of each feature, recent vs training,
   Holm-corrected across features (or Benjamini-Hochberg), counted only when the KS
   statistic is also large; the state follows the share of drifted features.

A check without enough data is not run and is listed in ``HealthReport.skipped``; it
never changes the state (a freshly promoted config is not yellow for lack of history).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import fdrcorrection

from rating._panel import FloatArray

__all__ = [
    "FeatureDrift",
    "HealthCheck",
    "HealthPolicy",
    "HealthReport",
    "HealthState",
    "Predictions",
    "assess",
    "data_drift",
    "prediction_quality",
    "rolling_directional_accuracy",
]

HealthState = Literal["green", "yellow", "red"]
DriftCorrection = Literal["holm", "fdr_bh"]
_SEVERITY: Mapping[str, int] = MappingProxyType({"green": 0, "yellow": 1, "red": 2})


@dataclass(frozen=True)
class HealthPolicy:
    """Thresholds of :func:`assess`; each check has a yellow and a red level.

    "ratio"/"drop"/"gap"/"share" thresholds are exceeded when the value is *above*
    them. Defaults are set so that sampling noise on a recent window of a few hundred
    predictions stays green (docs/metrics.md gives the noise levels behind them).

    Data
        min_obs: fewest predictions (in each window) for the quality checks (100: the
            RMSE ratio of 100 normal errors has a standard error of about 7%, so 1.25 is
            more than 3 standard errors).
        calibrate: scale predictions by c = Σ p·y / Σ p² fitted on the baseline before
            MAE/RMSE/R², so that signals in [-1, 1] and return forecasts are judged in
            the target's units (True). Directional accuracy uses the raw sign.
    Prediction quality
        rmse_ratio_yellow / _red: recent RMSE / baseline RMSE (1.25 / 1.5).
        mae_ratio_yellow / _red: recent MAE / baseline MAE (1.25 / 1.5).
        r2_drop_yellow / _red: baseline R² - recent R² (0.05 / 0.10; the recent R² of
            a forecast with correlation ρ has a standard error of about 2ρ/√n).
        large_error_k: an error is large when |e| > k·σ of the baseline errors (3).
        large_error_excess_yellow / _red: recent share of large errors minus the
            baseline share (0.02 / 0.05), counted only when the one-sided binomial
            test of the recent count against the baseline share (at least the normal
            share 2Φ(-k)) has a p-value below large_error_alpha_yellow / _red
            (0.05 / 0.01).
    Fairness across assets
        min_asset_obs: recent predictions an asset needs to be compared (20).
        fairness_gap_yellow / _red: best - worst asset directional accuracy
            (0.15 / 0.25), counted only when the χ² homogeneity test's p-value is
            below fairness_alpha_yellow / _red (0.05 / 0.01).
    Concept drift
        concept_window: bars of the trailing directional accuracy (60).
        accuracy_drop_yellow / _red: baseline accuracy - trailing accuracy
            (0.03 / 0.06), counted only when the one-sided two-proportion z-test's
            p-value is below accuracy_alpha_yellow / _red (0.05 / 0.01).
    Data drift
        drift_correction: "holm" (family-wise error, default) or "fdr_bh"
            (Benjamini-Hochberg false discovery rate) across features.
        drift_alpha: corrected p-value below which a feature may count as drifted (0.01).
        drift_min_statistic: ... and its KS statistic must be at least this (0.1).
        drift_share_yellow / _red: share of drifted features (0.2 / 0.5).
    """

    min_obs: int = 100
    calibrate: bool = True
    rmse_ratio_yellow: float = 1.25
    rmse_ratio_red: float = 1.5
    mae_ratio_yellow: float = 1.25
    mae_ratio_red: float = 1.5
    r2_drop_yellow: float = 0.05
    r2_drop_red: float = 0.10
    large_error_k: float = 3.0
    large_error_excess_yellow: float = 0.02
    large_error_excess_red: float = 0.05
    large_error_alpha_yellow: float = 0.05
    large_error_alpha_red: float = 0.01
    min_asset_obs: int = 20
    fairness_gap_yellow: float = 0.15
    fairness_gap_red: float = 0.25
    fairness_alpha_yellow: float = 0.05
    fairness_alpha_red: float = 0.01
    concept_window: int = 60
    accuracy_drop_yellow: float = 0.03
    accuracy_drop_red: float = 0.06
    accuracy_alpha_yellow: float = 0.05
    accuracy_alpha_red: float = 0.01
    drift_correction: DriftCorrection = "holm"
    drift_alpha: float = 0.01
    drift_min_statistic: float = 0.1
    drift_share_yellow: float = 0.2
    drift_share_red: float = 0.5

    def __post_init__(self) -> None:
        problems: list[str] = []
        pairs = {
            "rmse_ratio": (self.rmse_ratio_yellow, self.rmse_ratio_red),
            "mae_ratio": (self.mae_ratio_yellow, self.mae_ratio_red),
            "r2_drop": (self.r2_drop_yellow, self.r2_drop_red),
            "large_error_excess": (self.large_error_excess_yellow, self.large_error_excess_red),
            "fairness_gap": (self.fairness_gap_yellow, self.fairness_gap_red),
            "accuracy_drop": (self.accuracy_drop_yellow, self.accuracy_drop_red),
            "drift_share": (self.drift_share_yellow, self.drift_share_red),
        }
        for name, (yellow, red) in pairs.items():
            if not (math.isfinite(yellow) and math.isfinite(red) and yellow <= red):
                problems.append(f"need {name}_yellow <= {name}_red, got {yellow} and {red}")
        alphas = {
            "large_error": (self.large_error_alpha_yellow, self.large_error_alpha_red),
            "fairness": (self.fairness_alpha_yellow, self.fairness_alpha_red),
            "accuracy": (self.accuracy_alpha_yellow, self.accuracy_alpha_red),
        }
        for name, (yellow, red) in alphas.items():
            if not 0.0 < red <= yellow < 1.0:
                problems.append(
                    f"need 0 < {name}_alpha_red <= {name}_alpha_yellow < 1, got {red}, {yellow}"
                )
        if self.min_obs < 2 or self.min_asset_obs < 2 or self.concept_window < 2:
            problems.append("min_obs, min_asset_obs and concept_window must be >= 2")
        if not self.large_error_k > 0:
            problems.append(f"large_error_k must be > 0, got {self.large_error_k}")
        if self.drift_correction not in ("holm", "fdr_bh"):
            problems.append(
                f"drift_correction must be 'holm' or 'fdr_bh', got {self.drift_correction!r}"
            )
        if not 0.0 < self.drift_alpha < 1.0:
            problems.append(f"drift_alpha must be in (0, 1), got {self.drift_alpha}")
        if not 0.0 <= self.drift_min_statistic <= 1.0:
            problems.append(
                f"drift_min_statistic must be in [0, 1], got {self.drift_min_statistic}"
            )
        if problems:
            raise ValueError("invalid HealthPolicy: " + "; ".join(problems))


# ---- inputs ---------------------------------------------------------------------------------


def _vector(values: npt.ArrayLike, name: str) -> FloatArray:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {out.shape}")
    return out


@dataclass(frozen=True, eq=False)
class Predictions:
    """Predictions and realised targets, one row per (bar, asset), in time order.

    ``prediction``: the model's output (a return forecast, or a signal whose sign is the
    direction); ``realised``: the target it predicts (e.g. the forward return over the
    label horizon), same units as a return forecast. ``asset``: asset labels (optional;
    needed for the fairness check). ``bar``: bar labels, non-decreasing (optional; each
    row is its own bar when omitted), for the trailing concept-drift window. Rows with
    a NaN prediction or target are dropped.
    """

    prediction: FloatArray
    realised: FloatArray
    asset: npt.NDArray[np.object_] | None = None
    bar: npt.NDArray[np.generic] | None = None

    def __post_init__(self) -> None:
        p = _vector(self.prediction, "prediction")
        y = _vector(self.realised, "realised")
        if p.shape != y.shape:
            raise ValueError(f"prediction and realised differ in length: {p.size} vs {y.size}")
        asset = None if self.asset is None else np.asarray(self.asset, dtype=object)
        bar = None if self.bar is None else np.asarray(self.bar)
        for name, labels in (("asset", asset), ("bar", bar)):
            if labels is not None and labels.shape != p.shape:
                raise ValueError(f"{name} must have one label per row ({p.size})")
        if bar is not None and bar.size > 1 and not bool(np.all(bar[1:] >= bar[:-1])):
            raise ValueError("bar labels must be in time order (non-decreasing)")
        if np.isinf(p).any() or np.isinf(y).any():
            raise ValueError("prediction and realised must not contain ±inf")
        keep = np.isfinite(p) & np.isfinite(y)
        object.__setattr__(self, "prediction", p[keep])
        object.__setattr__(self, "realised", y[keep])
        object.__setattr__(self, "asset", None if asset is None else asset[keep])
        object.__setattr__(self, "bar", None if bar is None else bar[keep])

    @classmethod
    def from_wide(cls, prediction: pd.DataFrame, realised: pd.DataFrame) -> Predictions:
        """From bars x assets frames (index = bars, columns = assets), aligned on both
        axes (the union; missing pairs are dropped)."""
        p, y = prediction.align(realised, join="outer")
        p = p.sort_index()
        y = y.loc[p.index]
        n_bars, n_assets = p.shape
        return cls(
            prediction=p.to_numpy(dtype=np.float64, na_value=np.nan).ravel(),
            realised=y.to_numpy(dtype=np.float64, na_value=np.nan).ravel(),
            asset=np.tile(np.asarray(p.columns, dtype=object), n_bars),
            bar=np.repeat(np.arange(n_bars), n_assets),
        )

    def __len__(self) -> int:
        return int(self.prediction.size)

    def bar_labels(self) -> npt.NDArray[np.generic]:
        return np.arange(len(self)) if self.bar is None else self.bar


# ---- metrics --------------------------------------------------------------------------------


def _hits(p: FloatArray, y: FloatArray) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(counted, hit): a row counts when both the prediction and the outcome have a sign."""
    counted = (p != 0) & (y != 0)
    return counted, counted & (np.sign(p) == np.sign(y))


def _accuracy(p: FloatArray, y: FloatArray) -> tuple[float, int]:
    counted, hit = _hits(p, y)
    n = int(counted.sum())
    return (float(hit.sum()) / n if n else float("nan")), n


def prediction_quality(
    predictions: Predictions,
    *,
    scale: float = 1.0,
    error_sigma: float | None = None,
    k: float = 3.0,
) -> dict[str, float]:
    """MAE, RMSE, R², directional accuracy and share of large errors of one window.

    Errors e = y - scale·p. R² = 1 - Σ e² / Σ (y - ȳ)² (ȳ the window's mean; can be
    negative). Directional accuracy = share of rows where sign(p) = sign(y), over rows
    where both are non-zero. A large error is |e| > k·``error_sigma`` (default: the
    window's own error standard deviation, ddof=1). Also returns ``n`` (rows) and
    ``n_directional`` (rows counted for accuracy).
    """
    p, y = predictions.prediction, predictions.realised
    e = y - scale * p
    n = len(predictions)
    if n == 0:
        nan = float("nan")
        return dict.fromkeys(
            ("mae", "rmse", "r2", "directional_accuracy", "large_error_share", "n_directional"),
            nan,
        ) | {"n": 0.0}
    sst = float(((y - y.mean()) ** 2).sum())
    sigma = float(np.std(e, ddof=1)) if error_sigma is None and n > 1 else error_sigma
    accuracy, n_dir = _accuracy(p, y)
    return {
        "mae": float(np.abs(e).mean()),
        "rmse": float(np.sqrt((e * e).mean())),
        "r2": 1.0 - float((e * e).sum()) / sst if sst > 0 else float("nan"),
        "directional_accuracy": accuracy,
        "large_error_share": (
            float((np.abs(e) > k * sigma).mean()) if sigma is not None else float("nan")
        ),
        "n": float(n),
        "n_directional": float(n_dir),
    }


def rolling_directional_accuracy(predictions: Predictions, bars: int) -> pd.Series:
    """Directional accuracy over the trailing ``bars`` bars, one value per bar (indexed by
    the bar labels; NaN until a window has a counted row)."""
    labels = predictions.bar_labels()
    counted, hit = _hits(predictions.prediction, predictions.realised)
    per_bar = pd.DataFrame({"bar": labels, "n": counted, "hit": hit}).groupby("bar", sort=False)
    sums = per_bar[["n", "hit"]].sum().astype(np.float64)
    rolled = sums.rolling(bars, min_periods=1).sum()
    out = (rolled["hit"] / rolled["n"]).where(rolled["n"] > 0)
    out.name = "directional_accuracy"
    return out


def _holm(p_values: FloatArray) -> FloatArray:
    """Holm step-down adjusted p-values: p̃_(i) = max_{j ≤ i} min(1, (m - j + 1)·p_(j)).

    Identical to statsmodels ``multipletests(method="holm")`` (tested), computed here
    because statsmodels' Holm branch calls ``gc.collect()`` on every call (0.2-0.5 s in a
    large process, per config and cycle of the monitor).
    """
    m = p_values.size
    order = np.argsort(p_values, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(p_values[order] * (m - np.arange(m)), 1.0))
    out = np.empty(m)
    out[order] = stepped
    return out


@dataclass(frozen=True)
class FeatureDrift:
    """KS test of one feature: ``statistic`` D, raw and corrected p-values, sample sizes,
    and whether it counts as drifted (corrected p < drift_alpha and D ≥ the minimum)."""

    feature: str
    statistic: float
    p_value: float
    p_adjusted: float
    n_training: int
    n_recent: int
    drifted: bool


def data_drift(
    training: pd.DataFrame, recent: pd.DataFrame, policy: HealthPolicy | None = None
) -> tuple[tuple[FeatureDrift, ...], tuple[str, ...]]:
    """KS test of every feature, recent vs training, corrected across features.

    Returns ``(results, skipped)``: one :class:`FeatureDrift` per tested feature, and the
    features not tested (fewer than ``policy.min_obs`` finite values in either window).
    Columns must match (same names; order may differ). NaN values are ignored.
    """
    policy = policy if policy is not None else HealthPolicy()
    missing = sorted(set(map(str, training.columns)) ^ set(map(str, recent.columns)))
    if missing:
        raise ValueError(f"training and recent features differ in columns: {missing[:10]}")
    tested: list[tuple[str, float, float, int, int]] = []
    skipped: list[str] = []
    for name in training.columns:
        a = training[name].to_numpy(dtype=np.float64, na_value=np.nan)
        b = recent[name].to_numpy(dtype=np.float64, na_value=np.nan)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size < policy.min_obs or b.size < policy.min_obs:
            skipped.append(str(name))
            continue
        result = stats.ks_2samp(a, b)
        tested.append((str(name), float(result.statistic), float(result.pvalue), a.size, b.size))
    if not tested:
        return (), tuple(skipped)
    p_values = np.array([t[2] for t in tested])
    if policy.drift_correction == "holm":
        adjusted = _holm(p_values)
    else:
        adjusted = fdrcorrection(p_values, alpha=policy.drift_alpha, method="indep")[1]
    results = tuple(
        FeatureDrift(
            feature=name,
            statistic=d,
            p_value=p,
            p_adjusted=float(adj),
            n_training=n_a,
            n_recent=n_b,
            drifted=bool(adj < policy.drift_alpha and d >= policy.drift_min_statistic),
        )
        for (name, d, p, n_a, n_b), adj in zip(tested, adjusted, strict=True)
    )
    return results, tuple(skipped)


# ---- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthCheck:
    """One check: ``metric`` name, its ``value``, the ``yellow`` and ``red`` thresholds it
    is compared with (exceeded when above), the resulting ``state`` and a readable
    ``reason`` such as "rmse_ratio 1.62 > 1.50 (red)"."""

    metric: str
    value: float
    yellow: float
    red: float
    state: HealthState
    reason: str


@dataclass(frozen=True)
class HealthReport:
    """The outcome of :func:`assess`.

    ``state``: the worst state among ``checks`` (green when none ran). ``checks``: every
    check that ran, green ones included. ``skipped``: checks (and features) not run,
    with why. ``metrics``: the raw figures behind the checks (``<metric>_baseline``,
    ``<metric>_recent``, ...). ``drift``: the per-feature KS results.
    """

    state: HealthState
    checks: tuple[HealthCheck, ...]
    skipped: tuple[str, ...]
    metrics: Mapping[str, float] = field(default_factory=dict)
    drift: tuple[FeatureDrift, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons of the non-green checks, worst first (for the state-change event)."""
        bad = [c for c in self.checks if c.state != "green"]
        bad.sort(key=lambda c: -_SEVERITY[c.state])
        return tuple(c.reason for c in bad)

    def summary(self) -> dict[str, object]:
        """Plain values: state, reasons, skipped, and every metric."""
        return {
            "state": self.state,
            "reasons": list(self.reasons),
            "skipped": list(self.skipped),
            **{k: v for k, v in self.metrics.items()},
        }


def _check(metric: str, value: float, yellow: float, red: float, detail: str = "") -> HealthCheck:
    state: HealthState = "red" if value > red else "yellow" if value > yellow else "green"
    limit = red if state == "red" else yellow
    sign = ">" if state != "green" else "<="
    reason = f"{metric} {value:.3g} {sign} {limit:.3g} ({state})" + (
        f"; {detail}" if detail else ""
    )
    return HealthCheck(metric, float(value), yellow, red, state, reason)


def _significant_check(
    metric: str,
    value: float,
    p_value: float,
    levels: tuple[float, float],
    alphas: tuple[float, float],
    test: str,
) -> HealthCheck:
    """A check that needs both a material value and a small p-value for each level."""
    yellow, red = levels
    alpha_yellow, alpha_red = alphas
    state: HealthState = "green"
    if value > red and p_value < alpha_red:
        state = "red"
    elif value > yellow and p_value < alpha_yellow:
        state = "yellow"
    if state == "green":
        reason = (
            f"{metric} {value:.3g} within limits ({test} p = {p_value:.3g}; yellow above "
            f"{yellow:.3g} with p < {alpha_yellow:g})"
        )
    else:
        limit, alpha = (red, alpha_red) if state == "red" else (yellow, alpha_yellow)
        reason = f"{metric} {value:.3g} > {limit:.3g} with {test} p = {p_value:.3g} < {alpha:g} ({state})"
    return HealthCheck(metric, float(value), yellow, red, state, reason)


def _fairness(
    recent: Predictions, policy: HealthPolicy
) -> tuple[HealthCheck | None, str, dict[str, float]]:
    if recent.asset is None:
        return None, "fairness: no asset labels", {}
    counted, hit = _hits(recent.prediction, recent.realised)
    table = (
        pd.DataFrame({"asset": recent.asset[counted], "hit": hit[counted]})
        .groupby("asset")["hit"]
        .agg(["sum", "count"])
    )
    table = table[table["count"] >= policy.min_asset_obs]
    if len(table) < 2:
        return None, f"fairness: fewer than 2 assets with {policy.min_asset_obs} predictions", {}
    accuracy = table["sum"] / table["count"]
    gap = float(accuracy.max() - accuracy.min())
    contingency = np.column_stack([table["sum"], table["count"] - table["sum"]]).astype(float)
    if (contingency.sum(axis=0) == 0).any():  # every asset all hits (or all misses)
        p_value = 1.0
    else:
        p_value = float(stats.chi2_contingency(contingency).pvalue)
    best, worst = str(accuracy.idxmax()), str(accuracy.idxmin())
    check = _significant_check(
        "fairness_gap",
        gap,
        p_value,
        (policy.fairness_gap_yellow, policy.fairness_gap_red),
        (policy.fairness_alpha_yellow, policy.fairness_alpha_red),
        "χ² homogeneity",
    )
    check = HealthCheck(
        check.metric,
        check.value,
        check.yellow,
        check.red,
        check.state,
        f"{check.reason}; best {best} {accuracy.max():.2f}, worst {worst} {accuracy.min():.2f}",
    )
    return check, "", {"fairness_gap": gap, "fairness_p_value": p_value}


def _large_errors(
    base: Mapping[str, float], now: Mapping[str, float], policy: HealthPolicy
) -> HealthCheck:
    """Excess share of recent errors beyond k·σ_baseline, with a one-sided binomial test
    of the recent count against the baseline share (floored at the normal share)."""
    k = policy.large_error_k
    share0 = max(base["large_error_share"], 2.0 * float(stats.norm.sf(k)))
    n = int(now["n"])
    count = round(now["large_error_share"] * n)
    p_value = float(stats.binom.sf(count - 1, n, share0))
    check = _significant_check(
        "large_error_excess",
        now["large_error_share"] - base["large_error_share"],
        p_value,
        (policy.large_error_excess_yellow, policy.large_error_excess_red),
        (policy.large_error_alpha_yellow, policy.large_error_alpha_red),
        "binomial",
    )
    detail = (
        f"{now['large_error_share']:.1%} of recent errors beyond {k:g}σ vs "
        f"{base['large_error_share']:.1%} in the baseline"
    )
    return HealthCheck(
        check.metric, check.value, check.yellow, check.red, check.state, f"{check.reason}; {detail}"
    )


def _concept(
    baseline_accuracy: float, baseline_n: int, recent: Predictions, policy: HealthPolicy
) -> tuple[HealthCheck | None, str, dict[str, float]]:
    labels = recent.bar_labels()
    distinct = pd.unique(labels)
    window = distinct[-policy.concept_window :]
    tail = np.isin(labels, window)
    accuracy, n = _accuracy(recent.prediction[tail], recent.realised[tail])
    if n < policy.min_obs or baseline_n < policy.min_obs or not math.isfinite(baseline_accuracy):
        return None, f"concept drift: fewer than {policy.min_obs} directional predictions", {}
    drop = baseline_accuracy - accuracy
    pooled = (baseline_accuracy * baseline_n + accuracy * n) / (baseline_n + n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / baseline_n + 1 / n))
    p_value = float(stats.norm.sf(drop / se)) if se > 0 else (0.0 if drop > 0 else 1.0)
    check = _significant_check(
        "accuracy_drop",
        drop,
        p_value,
        (policy.accuracy_drop_yellow, policy.accuracy_drop_red),
        (policy.accuracy_alpha_yellow, policy.accuracy_alpha_red),
        "z-test",
    )
    return (
        check,
        "",
        {"accuracy_trailing": accuracy, "accuracy_drop": drop, "accuracy_p_value": p_value},
    )


def assess(
    baseline: Predictions,
    recent: Predictions,
    *,
    training_features: pd.DataFrame | None = None,
    recent_features: pd.DataFrame | None = None,
    policy: HealthPolicy | None = None,
) -> HealthReport:
    """Health of one config: ``recent`` predictions vs its ``baseline`` (the out-of-sample
    record it was promoted on), and optionally its ``recent_features`` vs the
    ``training_features`` its model was fitted on. See the module docstring."""
    policy = policy if policy is not None else HealthPolicy()
    checks: list[HealthCheck] = []
    skipped: list[str] = []
    metrics: dict[str, float] = {}

    if len(baseline) < policy.min_obs or len(recent) < policy.min_obs:
        skipped.append(
            f"prediction quality: {len(baseline)} baseline / {len(recent)} recent predictions "
            f"(need {policy.min_obs} each)"
        )
        baseline_accuracy, baseline_n = float("nan"), 0
    else:
        p, y = baseline.prediction, baseline.realised
        denom = float((p * p).sum())
        scale = float((p * y).sum()) / denom if policy.calibrate and denom > 0 else 1.0
        base = prediction_quality(baseline, scale=scale, k=policy.large_error_k)
        sigma = float(np.std(y - scale * p, ddof=1))
        now = prediction_quality(recent, scale=scale, error_sigma=sigma, k=policy.large_error_k)
        metrics["calibration_scale"] = scale
        for name in ("mae", "rmse", "r2", "directional_accuracy", "large_error_share"):
            metrics[f"{name}_baseline"] = base[name]
            metrics[f"{name}_recent"] = now[name]
        baseline_accuracy, baseline_n = base["directional_accuracy"], int(base["n_directional"])
        if base["rmse"] > 0:
            checks.append(
                _check(
                    "rmse_ratio",
                    now["rmse"] / base["rmse"],
                    policy.rmse_ratio_yellow,
                    policy.rmse_ratio_red,
                )
            )
            checks.append(
                _check(
                    "mae_ratio",
                    now["mae"] / base["mae"],
                    policy.mae_ratio_yellow,
                    policy.mae_ratio_red,
                )
            )
        else:
            skipped.append("error ratios: the baseline has no error")
        if math.isfinite(base["r2"]) and math.isfinite(now["r2"]):
            checks.append(
                _check("r2_drop", base["r2"] - now["r2"], policy.r2_drop_yellow, policy.r2_drop_red)
            )
        else:
            skipped.append("r2_drop: a window without variance in the target")
        checks.append(_large_errors(base, now, policy))
        fairness, why, extra = _fairness(recent, policy)
        metrics.update(extra)
        if fairness is not None:
            checks.append(fairness)
        else:
            skipped.append(why)

    concept, why, extra = _concept(baseline_accuracy, baseline_n, recent, policy)
    metrics.update(extra)
    if concept is not None:
        checks.append(concept)
    elif len(baseline) >= policy.min_obs and len(recent) >= policy.min_obs:
        skipped.append(why)

    drift: tuple[FeatureDrift, ...] = ()
    if training_features is not None and recent_features is not None:
        drift, untested = data_drift(training_features, recent_features, policy)
        skipped.extend(f"data drift: feature {name} has too few values" for name in untested)
        if drift:
            drifted = [d for d in drift if d.drifted]
            share = len(drifted) / len(drift)
            metrics["drift_share"] = share
            worst = sorted(drifted, key=lambda d: -d.statistic)[:3]
            detail = f"{len(drifted)} of {len(drift)} features drifted" + (
                ": " + ", ".join(f"{d.feature} (KS {d.statistic:.2f})" for d in worst)
                if worst
                else ""
            )
            checks.append(
                _check(
                    "drift_share", share, policy.drift_share_yellow, policy.drift_share_red, detail
                )
            )
    elif training_features is not None or recent_features is not None:
        raise ValueError("pass both training_features and recent_features, or neither")
    else:
        skipped.append("data drift: no feature matrices given")

    state: HealthState = "green"
    for check in checks:
        if _SEVERITY[check.state] > _SEVERITY[state]:
            state = check.state
    return HealthReport(
        state=state,
        checks=tuple(checks),
        skipped=tuple(skipped),
        metrics=MappingProxyType(metrics),
        drift=drift,
    )
