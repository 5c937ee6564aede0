"""`factory simulate`: the replay on the real engine's stored record, its baselines, its
point-in-time guarantee and its JSON schema."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from factory.app import App
from factory.cli import app as cli
from factory.plan import ModelConfig
from factory.portfolio import target_weights, weights_array
from factory.review import simulate
from factory.review.loader import load_history
from factory.review.regimes import volatility_regimes
from factory.review.simulate import Market, Pool, run_replay
from factory.review.summary import METRICS
from factory.storage.database import Database, table
from factory.storage.results import load_configs, signals_between, upsert_configs

SCHEMA = {
    "start",
    "end",
    "strategies",
    "random_k_spread",
    "best_static_config",
    "configs_evaluated",
    "promotion_cycles",
    "mean_active",
    "bars_in_cash",
    "pool",
    "factory_deflated_sharpe",
    "pool_pbo",
    "by_year",
    "by_regime",
}
STRATEGIES = {
    "factory",
    "equal_weight_all",
    "best_static",
    "naive_top_k",
    "random_k",
    "buy_and_hold",
}


# -- pieces --------------------------------------------------------------------------------
def test_weights_array_is_target_weights_bar_by_bar() -> None:
    rng = np.random.default_rng(0)
    signals = rng.uniform(-1.5, 1.5, (40, 5, 4))
    signals[rng.random(signals.shape) < 0.3] = np.nan
    members = rng.random((40, 5)) < 0.5
    members[3] = False  # an empty live set: cash
    got = weights_array(signals, members, gross_limit=0.8, max_weight=0.3)
    assets = ["A", "B", "C", "D"]
    for b in range(40):
        wide = pd.DataFrame(signals[b][members[b]], columns=assets)
        expected = target_weights(wide.dropna(how="all"), gross_limit=0.8, max_weight=0.3)
        want = expected.weights.reindex(assets).fillna(0.0).to_numpy()
        np.testing.assert_allclose(got[b], want, atol=1e-12, err_msg=f"bar {b}")
    assert not got[3].any()


def test_bar_by_bar_path_is_the_rebalance_rule_and_agrees_with_the_fast_path() -> None:
    from factory.book.sizing import BookSpec
    from factory.portfolio import RiskLimits, build_portfolio, shrunk_covariance
    from factory.portfolio.vectorised import weights_by_bar

    rng = np.random.default_rng(1)
    signals = rng.uniform(-1.5, 1.5, (30, 5, 4))
    signals[rng.random(signals.shape) < 0.3] = np.nan
    members = rng.random((30, 5)) < 0.5
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, (130, 4)), axis=0)
    assets = ["A", "B", "C", "D"]
    plain = RiskLimits(max_weight=0.3, gross_limit=0.8)
    fast = weights_array(signals, members, gross_limit=0.8, max_weight=0.3)
    slow, _ = weights_by_bar(
        signals, members, assets=assets, close=close, book=BookSpec(), limits=plain
    )
    np.testing.assert_allclose(slow, fast, atol=1e-12)
    # Another book with every limit: each bar is build_portfolio with the previous weights.
    book = BookSpec("long_only", tilt=2.0)
    limits = RiskLimits(max_weight=0.4, vol_target=0.05, max_turnover=0.3)
    got, notes = weights_by_bar(
        signals, members, assets=assets, close=close, book=book, limits=limits, cov_window=100
    )
    returns = pd.DataFrame(close, columns=assets).pct_change()
    previous = None
    for b in range(30):
        wide = pd.DataFrame(signals[b][members[b]], columns=assets).dropna(how="all")
        cov = shrunk_covariance(returns.iloc[max(1, 101 + b - 100) : 101 + b], window=100)
        want = build_portfolio(
            wide, book=book, limits=limits, universe=assets, previous=previous, covariance=cov
        )
        np.testing.assert_allclose(
            got[b], want.weights.reindex(assets).fillna(0.0).to_numpy(), atol=1e-12
        )
        assert notes[b] == want.note
        previous = want.weights
    assert any("vol target" in n for n in notes) and any("turnover" in n for n in notes)


def test_regimes_use_only_earlier_bars() -> None:
    rng = np.random.default_rng(1)
    universe = pd.Series(rng.normal(0, 0.01, 300), index=pd.bdate_range("2020-01-01", periods=300))
    labels = volatility_regimes(universe)
    changed = universe.copy()
    changed.iloc[200:] *= 5.0
    again = volatility_regimes(changed)
    assert (labels.iloc[:201] == again.iloc[:201]).all()  # bar 200 is labelled from bar 199
    assert (labels.iloc[201:] != again.iloc[201:]).any()
    assert set(labels.iloc[25:]) <= {"high_vol", "low_vol"} and (labels.iloc[:21] == "").all()


def test_signals_between_reads_the_window(db: Database) -> None:
    cfg = ModelConfig("ridge", 1, "classical", 5, "ohlcv", 1, (("alpha", 1.0),))
    upsert_configs(db, [cfg], at=datetime(2026, 1, 1))
    days = pd.bdate_range("2024-01-01", periods=5)
    with db.begin() as conn:
        conn.execute(
            table("signals").insert(),
            [
                {"config_id": cfg.config_id, "asset": a, "ts": d.to_pydatetime(), "signal": 0.1 * i}
                for i, d in enumerate(days)
                for a in ("AAA", "BBB")
            ],
        )
    got = signals_between(db, days[1].to_pydatetime(), days[3].to_pydatetime())
    assert len(got) == 6 and set(got["ts"]) == set(days[1:4])
    assert len(signals_between(db, None, None, ["nope"])) == 0


# -- the replay on the real engine -----------------------------------------------------
def test_on_the_planted_market_the_factory_beats_equal_weight_and_random(planted: App) -> None:
    sim = simulate(planted)
    p = sim.payload
    assert set(p) == SCHEMA
    assert set(p["strategies"]) == STRATEGIES
    for metrics in p["strategies"].values():
        assert set(metrics) == set(METRICS)
    s = {k: v["sharpe"] for k, v in p["strategies"].items()}
    assert s["factory"] > s["equal_weight_all"], s
    assert s["factory"] > s["random_k"] + 2 * p["random_k_spread"]["sharpe"], s
    assert p["factory_deflated_sharpe"] > planted.settings.rating.dsr_threshold
    assert p["configs_evaluated"] == 18 and p["promotion_cycles"] == len(sim.replay.index)
    assert 2 <= p["mean_active"] <= 3  # min_active 2, top_k 3 once anything is eligible
    assert p["pool"]["sharpe"]["min"] < 0 < p["pool"]["sharpe"]["max"]  # coins and skill
    assert set(p["by_regime"]) == {"high_vol", "low_vol"}
    assert set(p["by_regime"]["high_vol"]) == STRATEGIES
    years = {str(y) for y in sim.replay.index[1:].year}
    assert set(p["by_year"]) == years
    n = p["strategies"]["factory"]["n_bars"]
    assert n == len(sim.replay.index) - 1
    assert sum(p["by_year"][y]["factory"]["n_bars"] for y in years) == n
    # Promoted configs are the skilled ones, never a coin flip.
    promoted = {c for cycle in sim.replay.cycles for c in cycle.active}
    cfg = load_configs(planted.db)
    coins = set(cfg.index[cfg["architecture"].str.startswith("coin_flip")])
    assert len(coins) == 12
    assert promoted and not promoted & coins


def test_on_noise_nothing_is_promoted_and_the_dsr_stays_below_the_gate(noise: App) -> None:
    p = simulate(noise).payload
    assert p["factory_deflated_sharpe"] < noise.settings.rating.dsr_threshold
    bars = p["strategies"]["factory"]["n_bars"] + 1
    assert p["mean_active"] < 0.5
    assert p["bars_in_cash"] >= 0.8 * bars


def _perturbed_after(
    market: Market, pool: Pool, cut: pd.Timestamp, sim_index: pd.DatetimeIndex
) -> tuple[Market, Pool]:
    rng = np.random.default_rng(7)
    returns = pool.returns.copy()
    later = returns.index > cut
    returns.loc[later] = returns.loc[later].to_numpy() * -3.0 + rng.normal(
        0, 0.01, returns.loc[later].shape
    )
    turnover = None if pool.turnover is None else pool.turnover.copy()
    if turnover is not None:
        turnover.loc[later] = turnover.loc[later] * 2.0
    signals = pool.signals.copy()
    signals[np.asarray(sim_index > cut)] *= -1.0
    close = market.close.copy()
    after = np.asarray(market.index > cut)
    close[after] *= rng.uniform(0.5, 1.5, close[after].shape)
    bench = None if pool.benchmark is None else pool.benchmark.copy()
    if bench is not None:
        bench.loc[bench.index > cut] = rng.normal(0, 0.02, int((bench.index > cut).sum()))
    return (
        replace(market, close=close),
        replace(pool, returns=returns, turnover=turnover, signals=signals, benchmark=bench),
    )


def test_no_decision_at_or_before_t_depends_on_anything_after_t(planted: App) -> None:
    h = load_history(planted)
    sim_index = h.market.index[(h.market.index >= h.start) & (h.market.index <= h.end)]
    end = sim_index[199]
    sub = sim_index <= end
    pool = replace(h.pool, signals=h.pool.signals[np.asarray(sub)])
    base = run_replay(h.market, pool, h.start, end, h.options)
    cut = sim_index[150]
    market2, pool2 = _perturbed_after(h.market, pool, cut, sim_index[sub])
    other = run_replay(market2, pool2, h.start, end, h.options)
    upto = np.asarray(base.index <= cut)
    assert upto.sum() == 151
    before = [c for c in base.cycles if c.at <= cut]
    assert before == [c for c in other.cycles if c.at <= cut]
    assert any(c.active for c in before)  # decisions that could have moved
    runs = [(base.factory, other.factory)]
    runs += [(base.baselines[k], other.baselines[k]) for k in base.baselines]
    runs += list(zip(base.random_runs, other.random_runs, strict=True))
    for a, b in runs:
        np.testing.assert_array_equal(a.weights[upto], b.weights[upto], err_msg=a.name)
        if a.members is not None:
            assert b.members is not None
            np.testing.assert_array_equal(a.members[upto], b.members[upto], err_msg=a.name)
    # ... while the future did change what came after (the test can see a leak).
    assert not np.array_equal(base.factory.weights[~upto], other.factory.weights[~upto])
    assert [c.active for c in base.cycles] != [
        c.active for c in other.cycles
    ] or not np.array_equal(base.factory.net[~upto], other.factory.net[~upto])


# -- the command ---------------------------------------------------------------------------
def _toml(app: App, tmp: Path) -> Path:
    s = app.settings
    path = tmp / "factory.toml"
    path.write_text(
        f'db_url = "{s.db_url}"\noutput_dir = "{tmp / "out"}"\ncache_dir = "{s.cache_dir}"\n'
        "[plan]\n"
        f"architectures = {json.dumps(s.plan.architectures)}\n"
        f"feature_sets = {json.dumps(s.plan.feature_sets)}\n"
        f"lookbacks = {json.dumps(s.plan.lookbacks)}\nmax_grid = {s.plan.max_grid}\n"
        "[evaluation]\n"
        f"min_train = {s.evaluation.min_train}\nretrain_every = {s.evaluation.retrain_every}\n"
        'execution = "close"\n'
        "[rating]\nmin_active = 2\ntop_k = 3\nmax_active = 4\n"
    )
    return path


def test_the_command_prints_the_schema_and_the_seed_table(planted: App, tmp_path: Path) -> None:
    toml = _toml(planted, tmp_path)
    runner = CliRunner()
    start, end = "2013-01-02", "2013-06-28"
    res = runner.invoke(
        cli, ["--config", str(toml), "simulate", "--start", start, "--end", end, "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    p = json.loads(res.stdout)
    assert set(p) == SCHEMA and p["start"].startswith(start) and p["end"].startswith(end)
    table_out = runner.invoke(
        cli, ["--config", str(toml), "simulate", "--start", start, "--end", end]
    )
    assert table_out.exit_code == 0, table_out.output
    for row in ("configurations tested", "win-rate range", "Sharpe range", "adaptation"):
        assert row in table_out.stdout
    for name in STRATEGIES:
        assert name in table_out.stdout
    bad = runner.invoke(cli, ["--config", str(toml), "simulate", "--start", "yesterday"])
    assert bad.exit_code != 0 and "not a date" in bad.output
