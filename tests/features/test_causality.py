"""Causality: a feature at bar t depends on nothing after t.

For every pipeline, hypothesis draws a valid panel (with awkward cases: late listings,
holes, flat stretches, zero volume, partial bars) and a cut t, replaces every row after t
by the rows of an independently drawn panel (different prices, volumes and NaN pattern),
and asserts that every value at rows <= t is bit-for-bit unchanged, NaN positions
included. A second property checks that computing on the first t+1 rows only gives the
same rows as computing on the whole panel (what the factory does as bars arrive).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from features import get_feature_set
from tests.strategies import asset_shapes, panel_specs, splice_future, synthetic_panel

EXTRAS: dict[str, tuple[str, ...]] = {
    "ohlcv": (),
    "technical": (),
    "momentum": (),
    "volatility": (),
    "orderflow": ("quotes",),
    "cross_asset": (),
    "sentiment": ("sentiment",),
    "onchain": ("onchain",),
}
CASES = [*EXTRAS.items(), ("orderflow", ("quote_sizes",))]
IDS = [f"{name}-{'+'.join(extras) or 'bars'}" for name, extras in CASES]

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_every_registered_pipeline_has_a_causality_case() -> None:
    from features import feature_sets

    assert set(feature_sets()) == set(EXTRAS)


@pytest.mark.parametrize(("name", "extras"), CASES, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_perturbing_the_future_leaves_the_past_unchanged(
    name: str, extras: tuple[str, ...], data: st.DataObject
) -> None:
    spec = data.draw(panel_specs(min_assets=1, max_assets=4, extras=extras), label="spec")
    shapes = tuple(data.draw(asset_shapes(), label="future shape") for _ in spec.assets)
    future = replace(spec, seed=spec.seed ^ 0x5EED, assets=shapes)
    t = data.draw(st.integers(0, spec.n_bars - 2), label="t")

    panel = synthetic_panel(spec)
    perturbed = splice_future(panel, synthetic_panel(future), t)
    # A draw whose future is empty in both panels (every asset delisted by t) perturbs
    # nothing and would pass vacuously: discard it.
    assume(
        not np.array_equal(
            panel["close"].to_numpy()[t + 1 :],
            perturbed["close"].to_numpy()[t + 1 :],
            equal_nan=True,
        )
    )

    pipeline = get_feature_set(name)
    original, changed = pipeline(panel), pipeline(perturbed)
    assert original.names == changed.names
    np.testing.assert_array_equal(original.values[: t + 1], changed.values[: t + 1])


@pytest.mark.parametrize(("name", "extras"), CASES, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_computing_on_a_prefix_gives_the_same_rows(
    name: str, extras: tuple[str, ...], data: st.DataObject
) -> None:
    spec = data.draw(panel_specs(min_assets=1, max_assets=3, extras=extras), label="spec")
    t = data.draw(st.integers(0, spec.n_bars - 2), label="t")
    panel = synthetic_panel(spec)
    pipeline = get_feature_set(name)
    prefix = panel.head(t + 1)
    if pipeline.missing(prefix.columns):
        return
    full, head = pipeline(panel), pipeline(prefix)
    assert full.names == head.names
    np.testing.assert_array_equal(full.values[: t + 1], head.values)
