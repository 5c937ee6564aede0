"""Plan expansion: stable content-hash ids, the funnel, exclusions with reasons."""

from __future__ import annotations

import pytest

from architectures import registry
from architectures.base import Architecture, Tags
from architectures.registry import spec_from_class
from factory.plan import DataProfile, ModelConfig, expand, param_combinations
from features.registry import feature_sets, get_feature_set

BARS = frozenset({"open", "high", "low", "close", "volume"})


class _NewArch(Architecture):
    """A newly registered architecture (for the only-adds test)."""

    name = "plan_test_arch"
    tags = Tags(family="classical", input="tabular")
    param_grid = {"alpha": (0.1, 1.0)}  # noqa: RUF012

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def _fit(self, X, y, *, seed, groups):  # type: ignore[no-untyped-def]
        pass

    def _predict(self, X):  # type: ignore[no-untyped-def]
        return X[:, 0]

    def _save(self, path):  # type: ignore[no-untyped-def]
        pass

    def _load(self, path):  # type: ignore[no-untyped-def]
        pass


def test_config_id_is_a_stable_content_hash() -> None:
    a = ModelConfig("lightgbm", 1, "classical", 30, "ohlcv", 1, (("num_leaves", 7),))
    b = ModelConfig("lightgbm", 1, "classical", 30, "ohlcv", 1, (("num_leaves", 7),))
    assert a.config_id == b.config_id and len(a.config_id) == 12
    # Pinned value: the hash must never drift between releases (configs would lose history).
    # It is sha256 of the canonical JSON of the identity fields, first 12 hex characters.
    assert a.config_id == "1f2a860c0f42"
    assert (
        ModelConfig("lightgbm", 2, "classical", 30, "ohlcv", 1, (("num_leaves", 7),)).config_id
        != a.config_id
    )
    assert (
        ModelConfig("lightgbm", 1, "classical", 30, "ohlcv", 2, (("num_leaves", 7),)).config_id
        != a.config_id
    )
    assert (
        ModelConfig("lightgbm", 1, "classical", 14, "ohlcv", 1, (("num_leaves", 7),)).config_id
        != a.config_id
    )


def test_registering_an_architecture_only_adds_configs() -> None:
    specs = registry.available()
    fss = list(feature_sets().values())
    before = expand(specs, fss, [7, 30])
    after = expand([*specs, spec_from_class(_NewArch)], fss, [7, 30])
    ids_before = {c.config_id for c in before.configs}
    ids_after = {c.config_id for c in after.configs}
    assert ids_before < ids_after
    new = ids_after - ids_before
    assert len(new) == 2 * len(fss) * 2  # alpha x feature sets x lookbacks
    assert {c.architecture for c in after.configs if c.config_id in new} == {"plan_test_arch"}


def test_funnel_counts_add_up_and_reasons_are_given() -> None:
    specs = registry.available()
    fss = list(feature_sets().values())
    data = DataProfile(columns=BARS, n_bars=1000, n_assets=2)
    exp = expand(
        specs, fss, [7, 14, 30, 60, 90], selections=["none", "l1"], data=data, min_train=920
    )
    excluded = sum(e.count for e in exp.exclusions)
    assert exp.candidates == len(exp.configs) + excluded
    reasons = {(e.rule, e.reason) for e in exp.exclusions}
    rules = {r for r, _ in reasons}
    assert {"family restriction", "infeasible data"} <= rules
    assert any("sentiment" in reason and "lacks" in reason for _, reason in reasons)
    assert any("onchain" in reason for _, reason in reasons)
    assert any("lookback 90" in reason for _, reason in reasons)  # 90 + 920 >= 1000 bars
    assert all(c.feature_set not in ("sentiment", "onchain") for c in exp.configs)
    assert all(
        c.architecture != "arima" or (c.feature_set == "ohlcv" and c.feature_selection == "none")
        for c in exp.configs
    )


def test_budget_drops_the_most_expensive_with_a_reason() -> None:
    specs = registry.available()
    fss = [get_feature_set("ohlcv"), get_feature_set("momentum")]
    full = expand(specs, fss, [7, 90])
    cut = expand(specs, fss, [7, 90], budget=10)
    assert len(cut.configs) == 10
    dropped = [e for e in cut.exclusions if e.rule == "compute budget"]
    assert dropped and dropped[0].count == len(full.configs) - 10
    assert {c.config_id for c in cut.configs} < {c.config_id for c in full.configs}


def test_per_architecture_grids_and_prior_exclusions() -> None:
    spec = registry.get("lightgbm")
    combos = param_combinations(spec, grid={"num_leaves": [3, 5, 9], "n_estimators": [10]})
    assert len(combos) == 3 and combos[0] == (("n_estimators", 10), ("num_leaves", 3))
    with pytest.raises(ValueError, match="unknown parameter"):
        param_combinations(spec, grid={"leaves": [3]})
    fs = get_feature_set("ohlcv")
    first = expand([spec], [fs], [7]).configs[0]
    exp = expand([spec], [fs], [7], prior={first.config_id: "failed 3 times in a row"})
    assert first.config_id not in {c.config_id for c in exp.configs}
    assert ("prior performance", "failed 3 times in a row") in {
        (e.rule, e.reason) for e in exp.exclusions
    }


FULL_DATA = DataProfile(
    frozenset(
        [
            "open",
            "high",
            "low",
            "close",
            "volume",
            "bid_size",
            "ask_size",
            "sentiment_score",
            "sentiment_volume",
            "onchain_active_addresses",
            "onchain_tx_count",
        ]
    ),
    n_bars=5000,
    n_assets=20,
)


def test_the_default_plan_is_486_configs_on_full_data_explained() -> None:
    from factory import catalog
    from factory.settings import load_settings

    settings = load_settings(None)
    exp = catalog.plan(settings, FULL_DATA)
    assert len(exp.configs) == 486
    assert len({c.config_id for c in exp.configs}) == 486
    assert catalog.plan(settings, FULL_DATA).configs == exp.configs  # stable
    # every candidate is either kept or excluded with a reason
    assert exp.candidates == 486 + sum(e.count for e in exp.exclusions)
    families = {c.family for c in exp.configs}
    assert families == {"classical", "deep", "econometric", "rl"}
    assert len(exp.by_architecture()) >= 25
    budgets = settings.plan.family_budgets
    for family, cap in budgets.items():
        assert sum(1 for c in exp.configs if c.family == family) <= cap
    # the budget shares a family evenly: no architecture gets more than one extra config
    per_arch = exp.by_architecture()
    for family in ("classical", "deep", "rl"):
        counts = [n for a, n in per_arch.items() if registry.get(a).family == family]
        assert max(counts) - min(counts) <= 1


def test_lookbacks_an_architecture_does_not_take_are_excluded_with_its_reason() -> None:
    spec = registry.get("tft")
    exp = expand([spec], [get_feature_set("ohlcv")], [7, 14, 30, 60, 90])
    assert sorted(c.lookback for c in exp.configs) == sorted(
        [lb for lb in (14, 30, 60) for _ in param_combinations(spec)]
    )
    assert any("only with lookbacks 14, 30, 60" in e.reason for e in exp.exclusions)
