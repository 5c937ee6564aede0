"""Statistics that correct a Sharpe ratio for luck, selection and non-normality.

All Sharpe ratios here are **per period** (not annualised): SR = mean(r) / std(r) on the
bar frequency. Kurtosis is **Pearson** kurtosis (normal = 3). Formulas, conventions and
worked examples are in docs/metrics.md.

References
----------
- Bailey, D. H. & López de Prado, M. (2012). "The Sharpe Ratio Efficient Frontier".
  Journal of Risk 15(2), 3-44. — PSR and MinTRL.
- Bailey, D. H. & López de Prado, M. (2014). "The Deflated Sharpe Ratio: Correcting for
  Selection Bias, Backtest Overfitting and Non-Normality". Journal of Portfolio
  Management 40(5), 94-107. — expected maximum Sharpe, DSR, effective number of trials.
- Bailey, D. H., Borwein, J., López de Prado, M. & Zhu, Q. J. (2017). "The Probability
  of Backtest Overfitting". Journal of Computational Finance 20(4), 39-69. — PBO/CSCV.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

from rating._panel import FloatArray, Panel, ReturnsLike, as_panel

EULER_MASCHERONI = 0.5772156649015329

__all__ = [
    "EULER_MASCHERONI",
    "PBOResult",
    "deflated_sharpe_ratio",
    "effective_number_of_trials",
    "expected_max_sharpe",
    "min_track_record_length",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "trials_sr_variance",
]

ArrayOrFloat = float | FloatArray


def _out(value: FloatArray) -> ArrayOrFloat:
    return float(value) if value.ndim == 0 else value


def _sr_std_factor(sr: FloatArray, skew: FloatArray, kurtosis: FloatArray) -> FloatArray:
    """√(1 - γ3·SR + (γ4 - 1)/4·SR²): the non-normal Sharpe standard error × √(n - 1).

    Always ≥ 0 for consistent moments (γ4 ≥ 1 + γ3²); NaN if it is not positive.
    """
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    with np.errstate(invalid="ignore"):
        out: FloatArray = np.where(var > 0, np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
    return out


def probabilistic_sharpe_ratio(
    sr: npt.ArrayLike,
    n_obs: npt.ArrayLike,
    skew: npt.ArrayLike = 0.0,
    kurtosis: npt.ArrayLike = 3.0,
    sr_benchmark: npt.ArrayLike = 0.0,
    variance_inflation: npt.ArrayLike = 1.0,
) -> ArrayOrFloat:
    """PSR(SR*) = Φ( (SR - SR*)·√((n - 1)/f) / √(1 - γ3·SR + (γ4 - 1)/4·SR²) ).

    The probability that the true per-period Sharpe ratio exceeds ``sr_benchmark`` given
    an observed per-period ``sr`` over ``n_obs`` bars with sample skewness γ3 and Pearson
    kurtosis γ4 (Bailey & López de Prado 2012, eq. 12). ``variance_inflation`` f ≥ 1
    widens the standard error for serially correlated returns (f = 1: iid, the paper's
    formula; see ``rating.autocorrelation.variance_inflation``). Broadcasts over arrays;
    NaN when ``n_obs < 2`` or an input is NaN.
    """
    sr_a, n_a, sk, ku, bench, f = np.broadcast_arrays(
        *(
            np.asarray(v, dtype=np.float64)
            for v in (sr, n_obs, skew, kurtosis, sr_benchmark, variance_inflation)
        )
    )
    denom = _sr_std_factor(sr_a, sk, ku)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (sr_a - bench) * np.sqrt(np.maximum(n_a - 1.0, 0.0) / f) / denom
    out = np.where(n_a >= 2, ndtr(z), np.nan)
    return _out(np.asarray(out, dtype=np.float64))


def expected_max_sharpe(n_trials: npt.ArrayLike, sr_variance: npt.ArrayLike) -> ArrayOrFloat:
    """E[max SR] of ``n_trials`` independent zero-skill trials (the DSR benchmark SR0).

        SR0 = √V · ((1 - γ)·Φ⁻¹(1 - 1/N) + γ·Φ⁻¹(1 - 1/(N·e)))

    with γ the Euler-Mascheroni constant and V the variance of the trials' (per-period)
    Sharpe ratios (Bailey & López de Prado 2014, eq. 6; the bracket approximates the
    expected maximum of N iid standard normals). ``n_trials`` may be fractional (an
    effective count). The approximation is not meaningful below N = 1 and dips below zero
    just above it, so it is floored at 0 (one trial has no selection bias).
    """
    n, var = np.broadcast_arrays(
        np.asarray(n_trials, dtype=np.float64), np.asarray(sr_variance, dtype=np.float64)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        n_safe = np.where(n > 1, n, 2.0)
        bracket = (1.0 - EULER_MASCHERONI) * ndtri(1.0 - 1.0 / n_safe) + EULER_MASCHERONI * ndtri(
            1.0 - 1.0 / (n_safe * math.e)
        )
        sr0 = np.sqrt(var) * np.maximum(bracket, 0.0)
    sr0 = np.where(n > 1, sr0, 0.0)
    sr0 = np.where(np.isnan(n) | np.isnan(var) | (var < 0), np.nan, sr0)
    return _out(np.asarray(sr0, dtype=np.float64))


def deflated_sharpe_ratio(
    sr: npt.ArrayLike,
    n_obs: npt.ArrayLike,
    skew: npt.ArrayLike,
    kurtosis: npt.ArrayLike,
    n_trials: float,
    sr_variance: float,
    variance_inflation: npt.ArrayLike = 1.0,
) -> ArrayOrFloat:
    """DSR = PSR(SR0) with SR0 = expected_max_sharpe(n_trials, sr_variance).

    The probability that the true Sharpe ratio is positive after accounting for having
    picked the best of ``n_trials`` (Bailey & López de Prado 2014, eq. 7). Per-period SR,
    Pearson kurtosis; broadcasts over per-config arrays of sr/n_obs/skew/kurtosis and
    ``variance_inflation`` (as in ``probabilistic_sharpe_ratio``).
    """
    sr0 = expected_max_sharpe(n_trials, sr_variance)
    return probabilistic_sharpe_ratio(
        sr, n_obs, skew, kurtosis, sr_benchmark=sr0, variance_inflation=variance_inflation
    )


def min_track_record_length(
    sr: npt.ArrayLike,
    skew: npt.ArrayLike = 0.0,
    kurtosis: npt.ArrayLike = 3.0,
    sr_benchmark: npt.ArrayLike = 0.0,
    confidence: float = 0.95,
    variance_inflation: npt.ArrayLike = 1.0,
) -> ArrayOrFloat:
    """MinTRL = 1 + f·(1 - γ3·SR + (γ4 - 1)/4·SR²) · (Φ⁻¹(confidence) / (SR - SR*))².

    The number of bars needed for PSR(SR*) to reach ``confidence`` at the observed
    per-period SR and moments (Bailey & López de Prado 2012, eq. 14); f =
    ``variance_inflation`` (1 = iid) scales it for serially correlated returns. +inf when
    SR ≤ SR* (no track record is long enough).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    sr_a, sk, ku, bench, f = np.broadcast_arrays(
        *(
            np.asarray(v, dtype=np.float64)
            for v in (sr, skew, kurtosis, sr_benchmark, variance_inflation)
        )
    )
    factor = f * _sr_std_factor(sr_a, sk, ku) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        n = 1.0 + factor * (ndtri(confidence) / (sr_a - bench)) ** 2
    n = np.where(sr_a > bench, n, np.inf)
    n = np.where(np.isnan(sr_a) | np.isnan(bench) | np.isnan(factor), np.nan, n)
    return _out(np.asarray(n, dtype=np.float64))


def effective_number_of_trials(n_trials: int, mean_correlation: float) -> float:
    """N_eff = ρ̄ + (1 - ρ̄)·N, with ρ̄ the average pairwise correlation clipped to [0, 1].

    Interpolates between N independent trials (ρ̄ = 0) and one trial repeated N times
    (ρ̄ = 1); the approximation used with the DSR (Bailey & López de Prado 2014). It
    deliberately does not shrink N as hard as the design-effect formula N / (1 + (N-1)ρ̄):
    the cross-sectional variance of the trials' Sharpe ratios that scales SR0 already
    excludes the factor the trials share, so a strong shrink would count correlation
    twice and understate the selection bias of clustered grids. See docs/metrics.md.
    NaN correlation (unknown) is treated as 0, i.e. N independent trials.
    """
    if n_trials < 1:
        return float(n_trials)
    rho = 0.0 if math.isnan(mean_correlation) else min(max(mean_correlation, 0.0), 1.0)
    return rho + (1.0 - rho) * n_trials


SrVarianceMethod = Literal["null", "sample", "robust"]


def trials_sr_variance(
    sr: npt.ArrayLike,
    n_obs: npt.ArrayLike,
    method: SrVarianceMethod = "null",
    variance_inflation: npt.ArrayLike = 1.0,
) -> float:
    """V, the variance of the trials' per-period Sharpe ratios that scales SR0.

    - ``"null"`` (default): mean_i f_i/(n_i - 1), the sampling variance of a zero-skill
      trial's SR (the Mertens variance at SR = 0, widened by each trial's variance
      inflation f_i for serial correlation; f = 1 is the iid value). This is exactly
      DSR's null hypothesis (every trial has zero true skill) and makes the same
      assumption about serial correlation as the PSR standard error. Unaffected by how
      many configs have real skill.
    - ``"sample"``: the cross-sectional sample variance (ddof=1), the estimator of
      Bailey & López de Prado (2014). Conservative, but real skill inflates it: with a
      third of the trials skilled it can lift SR0 above every skilled config.
    - ``"robust"``: (1.4826 · MAD)² of the SRs, floored at the ``"null"`` value: picks up
      excess dispersion of noise configs (e.g. non-iid returns) while a minority of
      skilled configs moves it little.
    """
    sr_a, n_a, f_a = np.broadcast_arrays(
        np.asarray(sr, dtype=np.float64),
        np.asarray(n_obs, dtype=np.float64),
        np.asarray(variance_inflation, dtype=np.float64),
    )
    keep = np.isfinite(sr_a) & (n_a >= 2)
    sr_a, n_a, f_a = sr_a[keep], n_a[keep], f_a[keep]
    if sr_a.size == 0:
        return float("nan")
    null = float(np.mean(f_a / (n_a - 1.0)))
    if method == "null":
        return null
    if method == "sample":
        return float(np.var(sr_a, ddof=1)) if sr_a.size >= 2 else 0.0
    if method == "robust":
        mad = float(np.median(np.abs(sr_a - np.median(sr_a))))
        return max((1.4826 * mad) ** 2, null)
    raise ValueError(f"method must be 'null', 'sample' or 'robust', got {method!r}")


class PBOResult(NamedTuple):
    """Result of CSCV: ``pbo`` and the logit λ_c of every evaluated split.

    ``logits[c]`` belongs to the c-th in-sample set in ``itertools.combinations(range(S),
    S/2)`` order (when subsampled: the evaluated splits, in that order). Splits without
    any comparable config are NaN and excluded from ``pbo``.
    """

    pbo: float
    logits: FloatArray


@functools.lru_cache(maxsize=8)
def _split_pairs(n_partitions: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Complementary pairs of S/2-subsets of range(S).

    Returns ``(indicator, index)``: ``indicator`` is (P, S) with a 1 for the blocks of the
    pair's first half A (the subsets that contain block 0, P = C(S, S/2) / 2); ``index``
    is (P, 2) with the lexicographic positions of A and of its complement B among all
    C(S, S/2) subsets.
    """
    half = n_partitions // 2
    combos = list(itertools.combinations(range(n_partitions), half))
    position = {c: i for i, c in enumerate(combos)}
    everything = frozenset(range(n_partitions))
    firsts = [c for c in combos if c[0] == 0]
    indicator = np.zeros((len(firsts), n_partitions), dtype=np.float64)
    index = np.zeros((len(firsts), 2), dtype=np.int64)
    for p, a in enumerate(firsts):
        indicator[p, list(a)] = 1.0
        index[p] = (position[a], position[tuple(sorted(everything - set(a)))])
    return indicator, index


def _half_sharpe(sums: FloatArray, n_cfg: int, mu: FloatArray) -> FloatArray:
    """Sharpe ratio of each (row = half, column = config) from [counts | sums | sums²] of
    values centred by ``mu``; -inf where fewer than 2 observations or zero variance."""
    n, a, b = sums[:, :n_cfg], sums[:, n_cfg : 2 * n_cfg], sums[:, 2 * n_cfg :]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = a / n
        var = a * mean
        np.subtract(b, var, out=var)
        np.maximum(var, 0.0, out=var)
        np.divide(var, n - 1.0, out=var)
        np.sqrt(var, out=var)
        mean += mu
        np.divide(mean, var, out=mean)
    mean[(n < 2) | ~(var > 0)] = -np.inf
    return mean


def _relative_rank_logit(
    train: FloatArray, test: FloatArray, test_invalid: FloatArray
) -> FloatArray:
    """λ = logit(ω̄) of each row's in-sample winner, ranked out of sample (see PBO).

    ``train``/``test`` hold -inf for configs that cannot be compared in that half;
    ``test_invalid`` counts them per row.
    """
    rows = np.arange(len(test))
    best = np.argmax(train, axis=1)
    has_train = train[rows, best] > -np.inf
    best_test = test[rows, best]
    n_valid = test.shape[1] - test_invalid
    # Invalid (-inf) entries compare below any finite value: remove them from "less".
    less = (test < best_test[:, None]).sum(axis=1) - test_invalid
    equal = (test == best_test[:, None]).sum(axis=1)
    omega = (less + (equal + 1) / 2.0) / (n_valid + 1.0)
    ok = has_train & (best_test > -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(ok, np.log(omega / (1.0 - omega)), np.nan)
    return out


def probability_of_backtest_overfitting(
    returns_matrix: ReturnsLike,
    n_partitions: int = 16,
    max_combinations: int | None = None,
) -> PBOResult:
    """PBO by combinatorially symmetric cross-validation (Bailey et al. 2017).

    ``returns_matrix`` is T bars x N configs. Rows are cut into S = ``n_partitions``
    contiguous blocks of equal size (the T mod S *oldest* rows are dropped so the latest
    bar is kept). For every choice of S/2 blocks as in-sample set J (C(S, S/2) splits;
    12,870 for S = 16) and its complement J̄ as out-of-sample:

    1. n* = argmax over configs of the Sharpe ratio on J;
    2. ω̄ = rank of n*'s Sharpe ratio on J̄ among all configs / (N + 1)
       (rank 1 = worst, ties get the mid-rank);
    3. λ = ln(ω̄ / (1 - ω̄)).

    PBO = share of splits with λ ≤ 0, i.e. the in-sample winner did no better than the
    out-of-sample median. NaN bars are ignored; a config needs ≥ 2 observations in a half
    to be compared there.

    Vectorised: per-block sums, then for complementary pairs (A, B) one matrix product of
    the pair indicators with the block sums gives both halves; each pair yields the two
    splits A→B and B→A. Pairs are processed in chunks to bound memory.
    ``max_combinations`` evaluates an evenly spaced deterministic subset of the pairs
    (both directions of each) instead of all of them.
    """
    panel, _ = as_panel(returns_matrix)
    return pbo_from_panel(panel, n_partitions, max_combinations)


def pbo_from_panel(
    panel: Panel, n_partitions: int = 16, max_combinations: int | None = None
) -> PBOResult:
    """:func:`probability_of_backtest_overfitting` on a config-major Panel."""
    if n_partitions < 2 or n_partitions % 2:
        raise ValueError(f"n_partitions must be an even number >= 2, got {n_partitions}")
    n_cfg, n_bars = panel.n_configs, panel.n_bars
    block = n_bars // n_partitions
    if block < 1 or n_cfg < 2:
        raise ValueError(f"need at least {n_partitions} bars and 2 configs, got {n_bars} x {n_cfg}")
    tail = panel.tail(n_bars - block * n_partitions)
    mu = np.where(np.isnan(tail.mean), 0.0, tail.mean)
    centered = np.where(tail.valid, tail.filled - mu[:, None], 0.0)
    shape = (n_cfg, n_partitions, block)
    # S x 3N: per block, observation counts | sums | sums of squares (centred values).
    block_sums = np.concatenate(
        [
            tail.valid.reshape(shape).sum(axis=2).astype(np.float64).T,
            centered.reshape(shape).sum(axis=2).T,
            (centered * centered).reshape(shape).sum(axis=2).T,
        ],
        axis=1,
    )
    totals = block_sums.sum(axis=0)

    indicator, index = _split_pairs(n_partitions)
    if max_combinations is not None:
        if max_combinations < 1:
            raise ValueError(f"max_combinations must be >= 1, got {max_combinations}")
        n_pairs = min(len(indicator), max(1, max_combinations // 2))
        keep = np.unique(np.linspace(0, len(indicator) - 1, n_pairs).round().astype(np.int64))
        indicator, index = indicator[keep], index[keep]

    logits_a = np.empty(len(indicator))
    logits_b = np.empty(len(indicator))
    chunk = max(1, 262_144 // max(n_cfg, 1))
    for lo in range(0, len(indicator), chunk):
        sums_a = indicator[lo : lo + chunk] @ block_sums
        sr_a = _half_sharpe(sums_a, n_cfg, mu)
        sr_b = _half_sharpe(np.subtract(totals, sums_a, out=sums_a), n_cfg, mu)
        bad_a = (sr_a == -np.inf).sum(axis=1)
        bad_b = (sr_b == -np.inf).sum(axis=1)
        logits_a[lo : lo + chunk] = _relative_rank_logit(sr_a, sr_b, bad_b)
        logits_b[lo : lo + chunk] = _relative_rank_logit(sr_b, sr_a, bad_a)

    order = np.argsort(index.ravel(), kind="stable")
    logits = np.column_stack([logits_a, logits_b]).ravel()[order]
    valid_logits = logits[np.isfinite(logits)]
    pbo = float((valid_logits <= 0).mean()) if valid_logits.size else float("nan")
    return PBOResult(pbo=pbo, logits=logits)
