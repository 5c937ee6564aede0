"""Target weights from the live set's signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.portfolio import target_weights


def test_ensemble_equal_weight_and_gross_limit() -> None:
    signals = pd.DataFrame(
        {"A": [1.0, 0.5, np.nan], "B": [-0.5, -0.5, -1.0], "C": [np.nan, np.nan, np.nan]},
        index=["c1", "c2", "c3"],
    )
    p = target_weights(signals, gross_limit=1.0)
    # A: mean(1, .5) = .75; B: mean(-.5, -.5, -1) = -2/3; C: no view. Two assets -> /2.
    assert p.n_configs == 3
    assert p.weights.to_dict() == pytest.approx({"A": 0.375, "B": -1 / 3})
    assert p.gross == pytest.approx(0.375 + 1 / 3)
    capped = target_weights(signals, gross_limit=0.5)
    assert capped.gross == pytest.approx(0.5)
    assert capped.weights["A"] / capped.weights["B"] == pytest.approx(0.375 / (-1 / 3))
    assert "gross limit" in capped.note


def test_max_weight_and_empty() -> None:
    signals = pd.DataFrame({"A": [1.0], "B": [0.0]}, index=["c1"])
    p = target_weights(signals, max_weight=0.2)
    assert p.weights["A"] == pytest.approx(0.2) and p.weights["B"] == 0.0
    empty = target_weights(pd.DataFrame())
    assert empty.weights.empty and empty.gross == 0.0 and empty.note
