"""Resolve what settings name — architectures, feature sets, the plan — into objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time

from architectures import registry
from architectures.registry import ArchitectureSpec
from factory.book import BookSpec, CostModel
from factory.data.market import MarketData
from factory.evaluation.engine import EvalParams
from factory.plan import DataProfile, Expansion, expand
from factory.portfolio.risk import RiskLimits
from factory.settings import Settings, SettingsError
from features.registry import FeatureSet, feature_sets, get_feature_set


def architectures(names: list[str] | None = None) -> list[ArchitectureSpec]:
    if not names:
        return registry.available()
    return [registry.get(n) for n in names]


def pipelines(names: list[str] | None = None) -> list[FeatureSet]:
    if not names:
        return list(feature_sets().values())
    return [get_feature_set(n) for n in names]


def profile(data: MarketData) -> DataProfile:
    """Columns present (with at least one value) and history length of the data."""
    present = frozenset(c for c in data.columns if data.bars[c].notna().any())
    return DataProfile(columns=present, n_bars=len(data.timestamps), n_assets=len(data.assets))


def plan(
    settings: Settings, data: DataProfile | None, prior: Mapping[str, str] | None = None
) -> Expansion:
    """The configs of the settings' plan (against ``data`` when given). Mistakes in the
    ``[plan]`` section (unknown architecture, grid parameter, selection) are settings errors."""
    p = settings.plan
    known = {s.name for s in registry.available()}
    unknown = sorted(set(p.grids) - known)
    if unknown:
        raise SettingsError(
            f"[plan] grids names unknown architecture(s) {unknown}; known: {sorted(known)}"
        )
    try:
        return expand(
            architectures(p.architectures),
            pipelines(p.feature_sets),
            p.lookbacks,
            selections=p.feature_selection,
            data=data,
            min_train=settings.evaluation.min_train,
            budget=p.budget,
            family_budgets=p.family_budgets,
            max_grid=p.max_grid,
            grids=p.grids,
            prior=prior,
        )
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise SettingsError(f"[plan] {message}") from None


def eval_params(settings: Settings) -> EvalParams:
    """The evaluation's parameters from the ``[evaluation]`` and ``[portfolio]`` sections
    (the book is part of what a config's returns mean)."""
    e = settings.evaluation
    return EvalParams(
        horizon=e.horizon,
        retrain_every=e.retrain_every,
        window=e.window,
        train_window=e.train_window,
        min_train=e.min_train,
        purge=e.purge_bars,
        embargo=e.embargo,
        costs=cost_model(settings),
        execution=e.execution,
        book=book_spec(settings),
        max_gap_bars=e.max_gap_bars,
        label=e.label,
        warm_start=e.warm_start,
        stagger=e.stagger_retrains,
        start=None if e.start is None else datetime.combine(e.start, time()),
        seed=e.seed,
        max_train_samples=e.max_train_samples,
        time_budget_s=e.time_budget_s,
    )


def cost_model(settings: Settings) -> CostModel:
    e = settings.evaluation
    return CostModel(bps=e.cost_bps, by_asset=tuple(e.costs.items()), slippage_vol=e.slippage_vol)


def book_spec(settings: Settings) -> BookSpec:
    p = settings.portfolio
    return BookSpec(
        kind=p.book,
        cs_method=p.cs_method,
        cs_quantile=p.cs_quantile,
        tilt=p.tilt,
        max_weight=p.max_weight,
    )


def risk_limits(settings: Settings) -> RiskLimits:
    p = settings.portfolio
    return RiskLimits(
        max_weight=p.max_weight,
        gross_limit=p.gross_limit,
        net_limit=p.net_limit,
        vol_target=p.vol_target,
        periods_per_year=settings.rating.periods_per_year,
        max_turnover=p.max_turnover,
        min_members=p.min_members,
    )
