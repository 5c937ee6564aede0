"""The straightforward way to compute the same features: one asset at a time.

This is how feature code usually looks (FreqAI strategies, most notebooks): for each
asset, take its bars as a pandas DataFrame (``dropna`` gives the asset's own bars), build
every feature with ``Series.rolling`` / ``shift`` and TA-Lib, and reindex the result to
the panel's timestamps. Cross-asset features loop over assets against universe-wide
series. VPIN walks bar by bar. It produces the same features as `features.pipelines`
(the benchmark checks that) and serves as the timing baseline.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import talib
from scipy.stats import norm

from features import Panel

Features = dict[str, pd.DataFrame]
SMA = talib.MA_Type.SMA


def _log(x: pd.Series) -> pd.Series:
    return pd.Series(np.log(x.to_numpy(dtype=np.float64)), index=x.index)


def _asset_bars(panel: Panel, asset: str, columns: tuple[str, ...]) -> pd.DataFrame:
    bars = pd.DataFrame({c: panel[c][asset] for c in columns})
    return bars.dropna(subset=["close"])


def _collect(panel: Panel, per_asset: dict[str, dict[str, pd.Series]]) -> Features:
    names = next(iter(per_asset.values())).keys()
    return {
        name: pd.DataFrame({a: per_asset[a][name] for a in panel.assets}).reindex(panel.index)
        for name in names
    }


def ohlcv(panel: Panel) -> Features:
    out = {}
    for asset in panel.assets:
        b = _asset_bars(panel, asset, ("open", "high", "low", "close", "volume"))
        o, h, low, c, v = b["open"], b["high"], b["low"], b["close"], b["volume"]
        prev = c.shift(1)
        rng = h - low
        m20, m5 = v.rolling(20).mean(), v.rolling(5).mean()
        vol = np.log(np.maximum(v, 0.05 * m20) / m20).where(m20 != 0, 0.0)
        trend = np.log(np.maximum(m5, 0.05 * m20) / m20).where(m20 != 0, 0.0)
        out[asset] = {
            "ret_1": c / prev - 1,
            "gap": o / prev - 1,
            "body": (c - o) / c,
            "range": rng / c,
            "upper": (h - np.maximum(o, c)) / c,
            "lower": (np.minimum(o, c) - low) / c,
            "close_pos": ((c - low) / rng).where(rng != 0, 0.5),
            "volume": vol,
            "volume_trend": trend,
        }
    return _collect(panel, out)


def technical(panel: Panel) -> Features:
    out = {}
    for asset in panel.assets:
        b = _asset_bars(panel, asset, ("high", "low", "close", "volume"))
        h, low, c, v = (b[k].to_numpy() for k in ("high", "low", "close", "volume"))
        f: dict[str, np.ndarray] = {}
        for n in (7, 14, 28):
            f[f"rsi_{n}"] = talib.RSI(c, n) / 100
        for fast, slow, sig in ((12, 26, 9), (24, 52, 18)):
            m, s, hist = talib.MACD(c, fast, slow, sig)
            f[f"macd_{fast}_{slow}"], f[f"macd_signal_{fast}_{slow}"] = m / c, s / c
            f[f"macd_hist_{fast}_{slow}"] = hist / c
        for n in (10, 20, 50):
            up, mid, lo = talib.BBANDS(c, n, 2.0, 2.0, SMA)
            f[f"bb_pctb_{n}"] = np.where(up - lo == 0, 0.5, (c - lo) / (up - lo))
            f[f"bb_width_{n}"] = (up - lo) / mid
        for n in (5, 14):
            slow_k, slow_d = talib.STOCH(h, low, c, n, 3, SMA, 3, SMA)
            f[f"stoch_k_{n}"], f[f"stoch_d_{n}"] = slow_k / 100, slow_d / 100
        for n in (14, 28):
            f[f"adx_{n}"] = talib.ADX(h, low, c, n) / 100
            f[f"di_{n}"] = (talib.PLUS_DI(h, low, c, n) - talib.MINUS_DI(h, low, c, n)) / 100
        for n in (14, 28):
            f[f"cci_{n}"] = talib.CCI(h, low, c, n) / 100
        obv = pd.Series(talib.OBV(c, v))
        for k in (10, 21):
            traded = pd.Series(v).rolling(k).sum()
            f[f"obv_{k}"] = ((obv - obv.shift(k)) / traded).where(traded != 0, 0.0).to_numpy()
        for n in (14, 28):
            f[f"mfi_{n}"] = talib.MFI(h, low, c, v, n) / 100
        for n in (14, 28):
            f[f"willr_{n}"] = talib.WILLR(h, low, c, n) / 100
        out[asset] = {k: pd.Series(x, index=b.index) for k, x in f.items()}
    return _collect(panel, out)


def momentum(panel: Panel) -> Features:
    out = {}
    for asset in panel.assets:
        c = _asset_bars(panel, asset, ("close",))["close"]
        f = {f"mom_{k}": c / c.shift(k) - 1 for k in (1, 5, 10, 21, 63, 126)}
        for k in (5, 21, 63):
            f[f"accel_{k}"] = f[f"mom_{k}"] - f[f"mom_{k}"].shift(k)
        log_c = np.log(c)
        sigma = log_c.diff().rolling(63).std()
        for k in (5, 21, 63, 126):
            f[f"tsmom_{k}"] = (log_c - log_c.shift(k)) / (sigma * math.sqrt(k))
        out[asset] = f
    return _collect(panel, out)


def volatility(panel: Panel) -> Features:
    out = {}
    for asset in panel.assets:
        b = _asset_bars(panel, asset, ("open", "high", "low", "close"))
        o, h, low, c = b["open"], b["high"], b["low"], b["close"]
        f = {
            f"natr_{n}": pd.Series(
                talib.NATR(h.to_numpy(), low.to_numpy(), c.to_numpy(), n) / 100, index=b.index
            )
            for n in (14, 28)
        }
        r = _log(c).diff()
        for n in (10, 21, 63):
            f[f"vol_cc_{n}"] = r.rolling(n).std()
        hl2 = _log(h / low) ** 2
        oc = _log(c / o)
        for n in (21, 63):
            f[f"vol_parkinson_{n}"] = (hl2.rolling(n).mean() / (4 * math.log(2))) ** 0.5
        for n in (21, 63):
            gk = (0.5 * hl2 - (2 * math.log(2) - 1) * oc**2).rolling(n).mean()
            f[f"vol_gk_{n}"] = gk.clip(lower=0) ** 0.5
        overnight = _log(o / c.shift(1))
        rs = _log(h / c) * _log(h / o) + _log(low / c) * _log(low / o)
        for n in (21, 63):
            k = 0.34 / (1.34 + (n + 1) / (n - 1))
            var = (
                overnight.rolling(n).var()
                + k * oc.rolling(n).var()
                + (1 - k) * rs.rolling(n).mean()
            )
            f[f"vol_yz_{n}"] = var.clip(lower=0) ** 0.5
        cc21 = f["vol_cc_21"]
        f["vol_of_vol"] = cc21.rolling(63).std() / cc21.rolling(63).mean()
        f["vol_ratio_10_63"] = f["vol_cc_10"] / f["vol_cc_63"]
        f["vol_ratio_21_63"] = f["vol_cc_21"] / f["vol_cc_63"]
        out[asset] = f
    return _collect(panel, out)


def _vpin_bar_by_bar(v: np.ndarray, b: np.ndarray, size: np.ndarray, n: int) -> np.ndarray:
    valid = np.isfinite(b) & np.isfinite(v)
    vv = np.where(valid, v, 0.0)
    cum_v = np.concatenate(([0.0], np.cumsum(vv)))
    cum_b = np.concatenate(([0.0], np.cumsum(vv * np.where(valid, b, 0.0))))
    out = np.full(len(v), np.nan)
    start = None
    for t in range(len(v)):
        if not valid[t]:
            start = cum_v[t + 1]
            continue
        if start is None:
            start = 0.0
        if not size[t] > 0 or cum_v[t + 1] - n * size[t] < start:
            continue
        bounds = cum_v[t + 1] - np.arange(n + 1) * size[t]
        buy = np.interp(bounds, cum_v, cum_b)
        out[t] = np.abs(2 * (buy[:-1] - buy[1:]) - size[t]).sum() / (n * size[t])
    return out


def orderflow(panel: Panel) -> Features:
    quotes = all(k in panel for k in ("bid", "ask", "bid_size", "ask_size"))
    cols = ("close", "volume", *(("bid", "ask", "bid_size", "ask_size") if quotes else ()))
    out = {}
    for asset in panel.assets:
        b = _asset_bars(panel, asset, cols)
        c, v = b["close"], b["volume"]
        r = np.log(c).diff()
        sigma = r.rolling(63).std().shift(1)
        z = (r / sigma).where(~((r == 0) & (sigma == 0)), 0.0)
        buy = pd.Series(norm.cdf(z), index=b.index).where(z.notna())
        signed = v * (2 * buy - 1)
        f = {}
        for k in (1, 5, 21):
            traded = v.rolling(k).sum()
            f[f"bvc_imb_{k}"] = (signed.rolling(k).sum() / traded).where(traded != 0, 0.0)
        size = v.rolling(21).mean().to_numpy()
        for n in (10, 50):
            f[f"vpin_{n}"] = pd.Series(
                _vpin_bar_by_bar(v.to_numpy(), buy.to_numpy(), size, n), index=b.index
            )
        if quotes:
            pb, pa, qb, qa = b["bid"], b["ask"], b["bid_size"], b["ask_size"]
            e = (
                qb.where(pb >= pb.shift(1), 0.0)
                - qb.shift(1).where(pb <= pb.shift(1), 0.0)
                - qa.where(pa <= pa.shift(1), 0.0)
                + qa.shift(1).where(pa >= pa.shift(1), 0.0)
            ).where(pb.shift(1).notna())
            depth = (qb + qa) / 2
            for k in (1, 5, 21):
                f[f"ofi_{k}"] = e.rolling(k).sum() / depth.rolling(k).mean()
            f["depth_imb"] = (qb - qa) / (qb + qa)
            f["spread"] = (pa - pb) / ((pa + pb) / 2)
        out[asset] = f
    return _collect(panel, out)


def cross_asset(panel: Panel) -> Features:
    close = panel["close"]
    ret = pd.DataFrame(
        {a: _asset_bars(panel, a, ("close",))["close"].pct_change() for a in panel.assets}
    )
    ret = ret.reindex(panel.index)
    k_ret = {
        k: pd.DataFrame(
            {
                a: (lambda c: c / c.shift(k) - 1)(_asset_bars(panel, a, ("close",))["close"])
                for a in panel.assets
            }
        ).reindex(panel.index)
        for k in (5, 21)
    }
    index = ret.mean(axis=1)
    total, count = ret.sum(axis=1), ret.count(axis=1)
    per: dict[str, dict[str, pd.Series]] = {}
    for asset in panel.assets:
        r = ret[asset]
        others = ((total - r.fillna(0.0)) / (count - r.notna())).where(count - r.notna() > 0)
        f: dict[str, pd.Series] = {}
        for w in (21, 63):
            mp = math.ceil(0.8 * w)
            f[f"corr_ew_{w}"] = r.rolling(w, mp).corr(index)
            f[f"beta_ew_{w}"] = (
                r.rolling(w, mp).cov(index) / index.where(r.notna()).rolling(w, mp).var()
            )
        for w in (21, 63):
            f[f"corr_others_{w}"] = r.rolling(w, math.ceil(0.8 * w)).corr(others)
        f["beta_others_63"] = (
            r.rolling(63, 51).cov(others) / others.where(r.notna()).rolling(63, 51).var()
        )
        f["lead_corr_63"] = r.rolling(63, 51).corr(others.shift(1))
        f["lag_corr_63"] = r.shift(1).rolling(63, 51).corr(others)
        f["others_ret_1"] = others
        f["others_ret_5"] = others.rolling(5).sum()
        per[asset] = f
    out = _collect(panel, per)
    avg = out["corr_others_63"].mean(axis=1)
    out["avg_corr_63"] = pd.DataFrame({a: avg for a in panel.assets})
    disp_1, disp_21 = ret.std(axis=1), k_ret[21].std(axis=1)
    out["dispersion_1"] = pd.DataFrame({a: disp_1 for a in panel.assets})
    out["dispersion_21"] = pd.DataFrame({a: disp_21 for a in panel.assets})
    for k in (5, 21):
        kr = k_ret[k]
        out[f"xs_z_{k}"] = kr.sub(kr.mean(axis=1), axis=0).div(kr.std(axis=1), axis=0)
    absent = close.isna()
    return {name: frame.mask(absent) for name, frame in out.items()}


def sentiment(panel: Panel) -> Features:
    per = {}
    for asset in panel.assets:
        s = panel["sentiment_score"][asset]
        level = s.ffill()
        rows = pd.Series(np.arange(len(s), dtype=float), index=s.index)
        age = rows - rows.where(s.notna()).ffill()
        mean21 = level.rolling(21).mean()
        std63 = level.rolling(63).std()
        z = ((level - level.rolling(63).mean()) / std63).where(std63 != 0, 0.0).where(std63.notna())
        expected = mean21.shift(1)
        f = {
            "sent_level": level,
            "sent_age": np.log1p(age),
            "sent_change": level - level.shift(1),
            "sent_mean_5": level.rolling(5).mean(),
            "sent_mean_21": mean21,
            "sent_z_63": z,
            "sent_surprise": (s - expected).where(s.notna(), 0.0).where(expected.notna()),
        }
        if "sentiment_volume" in panel:
            items = panel["sentiment_volume"][asset]
            n = items.where(items.notna() | level.isna(), 0.0)
            f["sent_items"] = np.log1p(n) - np.log1p(n.rolling(21).mean())
        per[asset] = f
    out = _collect(panel, per)
    return {name: frame.mask(panel["close"].isna()) for name, frame in out.items()}


def onchain(panel: Panel) -> Features:
    metrics = sorted(c for c in panel.columns if c.startswith("onchain_"))
    per = {}
    for asset in panel.assets:
        f = {}
        for m in metrics:
            x = panel[m][asset]
            typical = x.abs().rolling(30, 24).mean()
            for k in (7, 30):
                f[f"{m}_chg_{k}"] = (x - x.shift(k)) / typical
            for w in (30, 90):
                roll = x.rolling(w, math.ceil(0.8 * w))
                std = roll.std()
                f[f"{m}_z_{w}"] = (
                    ((x - roll.mean()) / std).where(std != 0, 0.0).where(std.notna() & x.notna())
                )
            f[f"{m}_ratio_7_30"] = x.rolling(7, 6).mean() / typical
        per[asset] = f
    out = _collect(panel, per)
    return {name: frame.mask(panel["close"].isna()) for name, frame in out.items()}


BASELINES = {
    "ohlcv": ohlcv,
    "technical": technical,
    "momentum": momentum,
    "volatility": volatility,
    "orderflow": orderflow,
    "cross_asset": cross_asset,
    "sentiment": sentiment,
    "onchain": onchain,
}
