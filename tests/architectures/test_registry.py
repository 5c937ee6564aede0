"""The registry: decorator, duplicates, versions, lookups, pickling, entry-point plugins
and lazy imports."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import architectures.registry as registry_module
from architectures import ArchitectureSpec, available, get, register, unavailable
from architectures.registry import ENTRY_POINT_GROUP, REGISTRY, load_entry_point
from tests.architectures import dummies

ROOT = Path(__file__).resolve().parents[2]
RIDGE_ENTRY_POINT = "tests.architectures.dummies:RidgeLast"


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test add to the global registry; everything is restored afterwards."""
    REGISTRY.ensure_loaded()
    monkeypatch.setattr(REGISTRY, "_specs", {k: dict(v) for k, v in REGISTRY._specs.items()})
    monkeypatch.setattr(REGISTRY, "_unavailable", dict(REGISTRY._unavailable))
    yield


def test_register_decorator_reads_the_class(isolated: None) -> None:
    returned = register(dummies.RidgeLast)
    assert returned is dummies.RidgeLast  # usable as a plain class decorator
    spec = get("dummy_ridge")
    assert spec.entry_point == RIDGE_ENTRY_POINT
    assert spec.key == "dummy_ridge@1"
    assert spec.family == "classical" and spec.input == "tabular"
    assert spec.tags is dummies.RidgeLast.tags
    assert spec.default_params == {"alpha": 1.0}
    assert spec.param_grid == {"alpha": (0.1, 10.0)}
    assert spec.test_params == {"alpha": 1.0}
    assert (
        spec.description
        == "Ridge regression of y on the flattened window (closed form, no randomness)."
    )
    assert "dummy_ridge" in {s.name for s in available()}


def test_registering_the_same_class_again_is_harmless(isolated: None) -> None:
    register(dummies.RidgeLast)
    register(dummies.RidgeLast)  # e.g. a module imported twice
    assert get("dummy_ridge").entry_point == RIDGE_ENTRY_POINT


def test_duplicate_name_needs_override(isolated: None) -> None:
    register(dummies.RidgeLast)
    with pytest.raises(ValueError, match=r"already registered.*override=True"):
        register(dummies.OtherRidge)
    assert get("dummy_ridge").entry_point == RIDGE_ENTRY_POINT
    register(override=True)(dummies.OtherRidge)
    assert get("dummy_ridge").entry_point == "tests.architectures.dummies:OtherRidge"


def test_unknown_name_suggests_the_closest(isolated: None) -> None:
    with pytest.raises(KeyError, match=r"did you mean 'lstm'"):
        get("lstn")
    with pytest.raises(KeyError, match="unknown architecture 'zzzz'"):
        get("zzzz")


def test_versioned_lookup(isolated: None) -> None:
    assert get("lstm@1") == get("lstm") == get("lstm", 1)
    with pytest.raises(KeyError, match="no version 9"):
        get("lstm@9")
    register(dummies.RidgeLast)
    register(dummies.RidgeLastV2)
    assert get("dummy_ridge").version == 2  # the newest by default
    assert get("dummy_ridge@1").entry_point == RIDGE_ENTRY_POINT
    assert get("dummy_ridge", 2).entry_point == "tests.architectures.dummies:RidgeLastV2"
    assert [s.version for s in available() if s.name == "dummy_ridge"] == [2]


def test_build_rejects_unknown_params() -> None:
    with pytest.raises(TypeError, match=r"no parameter\(s\) \['n_trees'\]"):
        get("lightgbm").build({"n_trees": 5})
    model = get("lightgbm").build({"num_leaves": 7})
    assert model.get_params()["num_leaves"] == 7
    assert model.get_params()["n_estimators"] == get("lightgbm").default_params["n_estimators"]


@pytest.mark.parametrize("name", ["lightgbm", "lstm", "arima", "ppo"])
def test_spec_pickles_and_rebuilds_from_its_entry_point(name: str) -> None:
    spec = get(name)
    clone = pickle.loads(pickle.dumps(spec))
    assert isinstance(clone, ArchitectureSpec) and clone == spec
    assert load_entry_point(clone.entry_point) is spec.load()
    model = clone.build(clone.test_params)
    assert type(model) is spec.load()
    assert model.get_params() == {**spec.default_params, **spec.test_params}


def test_load_entry_point_rejects_bad_strings() -> None:
    with pytest.raises(ValueError, match=r"package\.module:Class"):
        load_entry_point("tests.architectures.dummies")
    with pytest.raises(TypeError, match=r"not an Architecture"):
        load_entry_point("tests.architectures.dummies:NOT_AN_ARCHITECTURE")


def test_entry_point_plugins(isolated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    declared = [
        EntryPoint("dummy_plugin", "tests.architectures.dummies:PluginRidge", ENTRY_POINT_GROUP),
        EntryPoint("missing_plugin", "tests.architectures.no_such_module:X", ENTRY_POINT_GROUP),
        EntryPoint(
            "not_arch", "tests.architectures.dummies:NOT_AN_ARCHITECTURE", ENTRY_POINT_GROUP
        ),
        EntryPoint("misnamed", "tests.architectures.dummies:RidgeLast", ENTRY_POINT_GROUP),
    ]

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        return declared if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    monkeypatch.setattr(REGISTRY, "_entry_points_loaded", False)
    with pytest.warns(UserWarning) as record:
        specs = available()
    warned = " ".join(str(w.message) for w in record)
    for bad in ("missing_plugin", "not_arch", "misnamed"):
        assert bad in warned

    by_name = {s.name: s for s in specs}
    assert by_name["dummy_plugin"].entry_point == "tests.architectures.dummies:PluginRidge"
    assert by_name["dummy_plugin"].source.startswith("entry point")
    assert {"lightgbm", "lstm", "arima", "ppo"} <= set(by_name)  # listing still works

    errors = {u.name: u.error for u in unavailable()}
    assert set(errors) == {"missing_plugin", "not_arch", "misnamed"}
    assert "ModuleNotFoundError" in errors["missing_plugin"]
    assert "not an Architecture" in errors["not_arch"]
    assert "differs from the class name" in errors["misnamed"]
    with pytest.raises(KeyError, match=r"missing_plugin.*unavailable"):
        get("missing_plugin")


def test_listing_imports_nothing_heavy() -> None:
    code = (
        "import json, sys\n"
        "import architectures, architectures.testing\n"
        "names = [s.name for s in architectures.available()]\n"
        "heavy = ['torch', 'stable_baselines3', 'lightgbm', 'statsmodels', 'gymnasium', 'sklearn',"
        " 'xgboost', 'arch', 'joblib']\n"
        "print(json.dumps({'names': names, 'loaded': [m for m in heavy if m in sys.modules]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"lightgbm", "lstm", "arima", "ppo"} <= set(report["names"])
    assert report["loaded"] == []
