"""Every registered architecture against every contract check (architectures/testing.py).

The cases come from the registry, so a newly registered architecture is tested without
being added to any list. A check that does not apply to an architecture by its tags
(APPLIES: position ranges for forecasters, warm starts for models without them) is not
generated; a check an architecture is known to fail goes into KNOWN_FAILURES with the
reason and runs as a strict xfail, so fixing it forces the entry to be removed. No case
is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from architectures import available
from architectures.registry import ArchitectureSpec
from architectures.testing import CHECKS, Check, CheckSkipped, iter_checks

# (architecture name, check name) -> why it fails. Empty: every architecture passes.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


# Checks that do not apply to an architecture by its tags are not generated (rather than
# run and skipped): check name -> does it apply to this spec?
APPLIES: dict[str, Callable[[ArchitectureSpec], bool]] = {
    "position_range": lambda spec: spec.tags.output == "position",
    "warm_start": lambda spec: spec.tags.supports_warm_start,
    "deterministic": lambda spec: not spec.tags.non_deterministic,
}


def _cases() -> Iterator[Any]:
    for spec in available():
        for check in iter_checks(spec):
            if not APPLIES.get(check.name, lambda _: True)(spec):
                continue
            reason = KNOWN_FAILURES.get((spec.name, check.name))
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            yield pytest.param(check, id=str(check), marks=marks)


@pytest.mark.parametrize("check", list(_cases()))
def test_contract(check: Check) -> None:
    try:
        check()
    except CheckSkipped as exc:
        pytest.skip(str(exc))


def test_not_applicable_names_real_checks() -> None:
    assert set(APPLIES) <= set(CHECKS)


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
