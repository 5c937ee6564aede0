"""``orderflow`` — signed volume, VPIN and, when quotes are present, order-flow imbalance.

Every value at bar t uses the asset's bars up to and including t (its own bar clock).

**Always (from bars): bulk-volume classification** (Easley, López de Prado & O'Hara 2012,
"Flow toxicity and liquidity in a high-frequency world"). A bar's volume is split into
buy and sell volume by how surprising its price change is:
``z_t = r_t / sigma_{t-1}``, ``r_t = ln(C_t / C_{t-1})``, ``sigma_{t-1}`` = sample std
(ddof=1) of the 63 log returns *before* bar t (an ex-ante scale; the paper uses the
full-sample std, which would look ahead; ``z = 0`` when ``r_t = sigma = 0`` and ``±inf``,
so ``Phi`` is 1 or 0, for a move after a flat stretch); buy volume ``V^B_t = V_t Phi(z_t)``, sell volume
``V^S_t = V_t - V^B_t``, with ``Phi`` the standard normal CDF.

=================  ==============================================================================
``bvc_imb_k``      signed-volume share ``sum(V^B - V^S) / sum(V)`` over the last k bars, in
                   [-1, 1] (0 when no volume traded); k in 1, 5, 21
                   (``bvc_imb_1 = 2 Phi(z_t) - 1``)
``vpin_n``         VPIN over the last n volume buckets, n in 10, 50:
                   ``sum_j |V^B_j - V^S_j| / (n V*)``, in [0, 1]
=================  ==============================================================================

Volume buckets are causal: the bucket size ``V*_t`` is the mean volume of the asset's last
21 bars (so a bucket holds about one typical bar of volume and ``vpin_50`` spans roughly
50 bars), and the buckets are laid *backwards from bar t* on the cumulative-volume clock:
bucket j covers cumulative volume ``(Q_t - (j+1) V*_t, Q_t - j V*_t]``. Within a bar, volume
and its buy share are spread uniformly, so a bucket straddling two bars takes the
corresponding fraction of each (buy volume is read off the piecewise-linear cumulative
buy volume). This is VPIN "as of every bar" rather than only at bucket completions;
it is NaN until the n buckets fit inside the asset's classified history (bars with an
undefined ``z`` are outside it) and when ``V*_t = 0``.

**When the panel has ``bid_size`` and ``ask_size``: order-flow imbalance** (Cont,
Kukanov & Stoikov 2014, "The price impact of order book events"), computed from the
top-of-book snapshot at each bar close, so it sees only the net change between
consecutive closes, not every quote event inside the bar. With bid/ask prices ``P^b, P^a``
and sizes ``q^b, q^a``:
``e_t = 1{P^b_t >= P^b_{t-1}} q^b_t - 1{P^b_t <= P^b_{t-1}} q^b_{t-1}
- 1{P^a_t <= P^a_{t-1}} q^a_t + 1{P^a_t >= P^a_{t-1}} q^a_{t-1}``.
Without ``bid``/``ask`` prices the prices are taken as unchanged, giving
``e_t = (q^b_t - q^b_{t-1}) - (q^a_t - q^a_{t-1})``.

=================  ==============================================================================
``ofi_k``          ``sum(e) over the last k bars / mean depth``, depth ``(q^b + q^a) / 2``
                   averaged over the same k bars (CKS normalise by average depth); k in 1, 5, 21
``depth_imb``      ``(q^b_t - q^a_t) / (q^b_t + q^a_t)``
``spread``         ``(P^a_t - P^b_t) / ((P^a_t + P^b_t) / 2)`` (only with bid/ask prices)
=================  ==============================================================================

Warm-up: 84 bars for the BVC and quote features (``WARMUP``: 1 + 63 bars for ``sigma``,
then 21 for ``bvc_imb_21``); VPIN's depends on the volume path: ``vpin_n`` is defined once
n buckets of ``V*`` fit after bar 64, about bar 64 + n on steady volume.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from features.bar_clock import BarClock, feature_frame
from features.frame import FeatureFrame, Panel
from features.registry import feature_set
from features.rolling import lag, rolling_mean, rolling_std, rolling_sum, safe_divide

SIGMA_WINDOW = 63
IMBALANCE = (1, 5, 21)
BUCKET_WINDOW = 21
VPIN_BUCKETS = (10, 50)
OFI = (1, 5, 21)
QUOTE_SIZES = ("bid_size", "ask_size")
QUOTE_PRICES = ("bid", "ask")
WARMUP = 1 + SIGMA_WINDOW + max(IMBALANCE) - 1


def bvc_buy_fraction(close: np.ndarray) -> np.ndarray:
    """``Phi(r_t / sigma_{t-1})`` for compact ``T x N`` closes (NaN while undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = np.log(close)
    r = log_c - lag(log_c, 1)
    sigma = lag(rolling_std(r, SIGMA_WINDOW), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = r / sigma  # a move after a flat stretch is +-inf: Phi gives 1 or 0
    z[(r == 0) & (sigma == 0)] = 0.0
    return np.asarray(ndtr(z))


def vpin(
    volume: np.ndarray,
    buy_fraction: np.ndarray,
    bucket_volume: np.ndarray,
    buckets: tuple[int, ...],
) -> dict[int, np.ndarray]:
    """VPIN at every bar over each of ``buckets`` volume-bucket counts, buckets laid
    backwards from the bar (the bucket boundaries of the smaller counts are shared).

    ``volume``, ``buy_fraction`` and ``bucket_volume`` are ``T x N``. A bar whose volume or
    buy fraction is not finite ends the usable history: buckets may not reach back to it.
    """
    t_rows, n_assets = volume.shape
    out = {n: np.full((t_rows, n_assets), np.nan) for n in buckets}
    most, fewest = max(buckets), min(buckets)
    ok = np.isfinite(volume) & np.isfinite(buy_fraction)
    v = np.where(ok, volume, 0.0)
    buy = v * np.where(ok, buy_fraction, 0.0)
    cum_v = np.vstack([np.zeros((1, n_assets)), np.cumsum(v, axis=0)])  # Q before/after bar
    cum_b = np.vstack([np.zeros((1, n_assets)), np.cumsum(buy, axis=0)])
    # Q at the end of the last unusable bar at or before t: buckets must stay above it
    last_bad = np.where(~ok, np.arange(1, t_rows + 1)[:, None], 0)
    floor = np.take_along_axis(cum_v, np.maximum.accumulate(last_bad, axis=0), axis=0)
    total = cum_v[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        room = np.where(bucket_volume > 0, (total - floor) / bucket_volume, -1.0)
    steps = np.arange(most + 1, dtype=np.float64)
    cum_v_by_asset, cum_b_by_asset = np.ascontiguousarray(cum_v.T), np.ascontiguousarray(cum_b.T)
    for a in range(n_assets):
        rows = np.flatnonzero(ok[:, a] & (room[:, a] >= fewest))
        if rows.size == 0:
            continue
        size = bucket_volume[rows, a]
        bounds = total[rows, a, None] - steps[None, :] * size[:, None]  # (rows, most + 1)
        b = np.interp(bounds.ravel(), cum_v_by_asset[a], cum_b_by_asset[a]).reshape(bounds.shape)
        # |V^B_j - V^S_j| = |2 V^B_j - V*| for buckets j = 0 .. most-1
        imbalance = np.abs(2.0 * (b[:, :-1] - b[:, 1:]) - size[:, None])
        for n in buckets:
            fits = room[rows, a] >= n
            out[n][rows[fits], a] = imbalance[fits, :n].sum(axis=1) / (n * size[fits])
    return out


def order_flow_imbalance(
    bid_size: np.ndarray,
    ask_size: np.ndarray,
    bid: np.ndarray | None,
    ask: np.ndarray | None,
) -> np.ndarray:
    """Cont-Kukanov-Stoikov ``e_t`` between consecutive snapshots (``T x N``)."""
    prev_bs, prev_as = lag(bid_size, 1), lag(ask_size, 1)
    if bid is None or ask is None:
        return (bid_size - prev_bs) - (ask_size - prev_as)
    prev_b, prev_a = lag(bid, 1), lag(ask, 1)
    with np.errstate(invalid="ignore"):
        e = (
            np.where(bid >= prev_b, bid_size, 0.0)
            - np.where(bid <= prev_b, prev_bs, 0.0)
            - np.where(ask <= prev_a, ask_size, 0.0)
            + np.where(ask >= prev_a, prev_as, 0.0)
        )
    undefined = ~(np.isfinite(bid) & np.isfinite(prev_b) & np.isfinite(ask) & np.isfinite(prev_a))
    undefined |= ~(np.isfinite(bid_size) & np.isfinite(prev_bs))
    undefined |= ~(np.isfinite(ask_size) & np.isfinite(prev_as))
    e[undefined] = np.nan
    return e


@feature_set(
    "orderflow",
    requires=("close", "volume"),
    optional=(*QUOTE_SIZES, *QUOTE_PRICES),
    description="bulk-volume signed volume and VPIN; order-flow imbalance when quotes exist",
)
def orderflow(panel: Panel) -> FeatureFrame:
    clock = BarClock.of(panel)
    c, v = clock.compact(panel["close"]), clock.compact(panel["volume"])
    columns: dict[str, np.ndarray] = {}

    buy_fraction = bvc_buy_fraction(c)
    signed = v * (2.0 * buy_fraction - 1.0)
    for k in IMBALANCE:
        traded = rolling_sum(v, k)
        imbalance = safe_divide(rolling_sum(signed, k), traded)
        imbalance[traded == 0] = 0.0  # no volume, no imbalance
        columns[f"bvc_imb_{k}"] = imbalance
    for n, values in vpin(v, buy_fraction, rolling_mean(v, BUCKET_WINDOW), VPIN_BUCKETS).items():
        columns[f"vpin_{n}"] = values

    if all(k in panel for k in QUOTE_SIZES):
        qb, qa = clock.compact(panel["bid_size"]), clock.compact(panel["ask_size"])
        has_prices = all(k in panel for k in QUOTE_PRICES)
        pb = clock.compact(panel["bid"]) if has_prices else None
        pa = clock.compact(panel["ask"]) if has_prices else None
        e = order_flow_imbalance(qb, qa, pb, pa)
        depth = 0.5 * (qb + qa)
        for k in OFI:
            columns[f"ofi_{k}"] = safe_divide(rolling_sum(e, k), rolling_mean(depth, k))
        columns["depth_imb"] = safe_divide(qb - qa, qb + qa)
        if pb is not None and pa is not None:
            columns["spread"] = safe_divide(pa - pb, 0.5 * (pa + pb))
    return feature_frame(columns, panel, clock)
