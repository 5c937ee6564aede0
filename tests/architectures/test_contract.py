"""Every registered architecture against every contract check (architectures/testing.py).

The cases come from the registry, so a newly registered architecture is tested without
being added to any list. A check an architecture is known to fail goes into
KNOWN_FAILURES with the reason; it runs as a strict xfail, so fixing it forces the
entry to be removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from architectures import available
from architectures.testing import CHECKS, Check, CheckSkipped, iter_checks

# (architecture name, check name) -> why it fails. Empty: every architecture passes.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _cases() -> Iterator[Any]:
    for spec in available():
        for check in iter_checks(spec):
            reason = KNOWN_FAILURES.get((spec.name, check.name))
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            yield pytest.param(check, id=str(check), marks=marks)


@pytest.mark.parametrize("check", list(_cases()))
def test_contract(check: Check) -> None:
    try:
        check()
    except CheckSkipped as exc:
        pytest.skip(str(exc))


def test_known_failures_name_real_architectures_and_checks() -> None:
    names = {spec.name for spec in available()}
    for arch, check in KNOWN_FAILURES:
        assert arch in names, f"KNOWN_FAILURES names unknown architecture {arch!r}"
        assert check in CHECKS, f"KNOWN_FAILURES names unknown check {check!r}"


def test_the_builtin_architectures_are_all_registered() -> None:
    classical = {"lightgbm", "xgboost", "random_forest", "extra_trees", "svm", "logistic"}
    linear = {"ridge", "lasso", "elastic_net"}
    econometric = {"arima", "ar_garch", "gjr_garch", "holt_winters", "var"}
    expected = {"lstm", "ppo"} | classical | linear | econometric
    assert expected <= {spec.name for spec in available()}
