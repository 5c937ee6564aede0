"""The contract checks themselves: a correct architecture passes every check, and each
deliberately broken one (tests/architectures/dummies.py) fails the check guarding the
rule it breaks."""

from __future__ import annotations

import numpy as np
import pytest

from architectures.base import Tags
from architectures.testing import (
    CHECKS,
    CheckFailed,
    CheckResult,
    CheckSkipped,
    check_architecture,
    iter_checks,
    synthetic_dataset,
)
from tests.architectures import dummies


def test_a_correct_architecture_passes_every_check() -> None:
    results = check_architecture(dummies.RidgeLast)
    assert [r.name for r in results] == list(CHECKS)
    assert all(isinstance(r, CheckResult) for r in results)
    failed = [str(r) for r in results if not r.passed]
    assert failed == []
    skipped = {r.name for r in results if r.skipped}
    assert skipped == {"position_range"}  # a "return" architecture


@pytest.mark.parametrize(
    ("broken", "check"),
    [
        (dummies.BrokenTupleParam, "spec_consistent"),
        (dummies.BrokenNoLookbackUse, "spec_consistent"),
        (dummies.BrokenWarmMutates, "warm_start"),
        (dummies.BrokenWarmIgnores, "warm_start"),
        (dummies.BrokenNoDefault, "spec_consistent"),
        (dummies.BrokenConvertsParam, "init_stores_params"),
        (dummies.BrokenInitState, "init_stores_params"),
        (dummies.BrokenConstant, "fit_predict"),
        (dummies.BrokenBlockDemean, "predict_rowwise"),
        (dummies.BrokenPositionScale, "position_range"),
        (dummies.BrokenOverridesPredict, "predict_before_fit_raises"),
        (dummies.BrokenOverridesPredict, "wrong_input_shape_raises"),
        (dummies.BrokenOverridesPredict, "nan_input_raises"),
        (dummies.BrokenUnseeded, "deterministic"),
        (dummies.BrokenLossySave, "save_load_roundtrip"),
        (dummies.BrokenMutatesX, "fit_does_not_mutate_inputs"),
        (dummies.BrokenSignFlip, "learns_signal"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_each_broken_architecture_fails_its_check(broken: type, check: str) -> None:
    (bound,) = [c for c in iter_checks(broken) if c.name == check]
    result = bound.result()
    assert not result.passed and not result.skipped, result.message
    assert result.message  # says what went wrong
    with pytest.raises(Exception) as info:  # any failure type will do
        bound()
    assert not isinstance(info.value, CheckSkipped)


def test_failure_messages_name_the_problem() -> None:
    by_name = {r.name: r for r in check_architecture(dummies.BrokenMutatesX)}
    assert "read-only" in by_name["fit_does_not_mutate_inputs"].message
    by_name = {r.name: r for r in check_architecture(dummies.BrokenOverridesPredict)}
    # the unexpected exception is reported with its type and the author's line
    message = by_name["predict_before_fit_raises"].message
    assert "AttributeError" in message and "NotFittedError" in message


def test_checks_raise_assertion_errors_for_pytest() -> None:
    (bound,) = [c for c in iter_checks(dummies.BrokenUnseeded) if c.name == "deterministic"]
    with pytest.raises(CheckFailed, match="same seed"):
        bound()
    assert issubclass(CheckFailed, AssertionError)


def test_params_override_replaces_test_params() -> None:
    (bound,) = [
        c for c in iter_checks(dummies.RidgeLast, params={"alpha": 5.0}) if c.name == "fit_predict"
    ]
    assert bound.context.params == {"alpha": 5.0}
    assert bound().startswith("fitted on")


def test_iter_checks_is_lazy_for_a_name() -> None:
    checks = list(iter_checks("no_such_architecture"))
    assert [c.name for c in checks] == list(CHECKS)
    result = checks[0].result()
    assert not result.passed and "no_such_architecture" in result.message


@pytest.mark.parametrize("kind", ["sequence", "tabular", "series"])
def test_synthetic_dataset_shapes_and_order(kind: str) -> None:
    tags = Tags(family="classical", input=kind)  # type: ignore[arg-type]
    data = synthetic_dataset(tags, n_train=50, n_test=10, signal=0.5, seed=1)
    assert data.X_train.shape[0] == 100 and data.X_test.shape[0] == 20
    assert data.X_train.dtype == np.float32
    assert np.array_equal(data.groups_train, np.repeat([0, 1], 50))
    if kind == "series":
        # consecutive windows overlap: row i+1 is row i shifted by one bar
        assert np.array_equal(data.X_train[1:50, :-1], data.X_train[:49, 1:])
        # y is the next bar's value, i.e. the last element of the next window
        assert np.allclose(data.y_train[:49], data.X_train[1:50, -1], atol=1e-6)
    elif kind == "sequence":
        assert data.X_train.shape[1:] == (8, 3)
        assert np.array_equal(data.X_train[1:50, :-1], data.X_train[:49, 1:])


def test_synthetic_signal_strength_matches_its_definition() -> None:
    tags = Tags(family="classical", input="sequence")
    data = synthetic_dataset(tags, n_train=4000, n_test=1, signal=0.6, seed=3)
    corr = np.corrcoef(data.X_train[:, -1, 0], data.y_train)[0, 1]
    assert abs(corr - 0.6) < 0.05
