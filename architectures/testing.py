"""Contract checks every architecture must pass (like scikit-learn's ``check_estimator``).

``factory arch check NAME`` runs them for a quant who just wrote a class; the project's
test suite runs them for every registered architecture. Use them in a notebook::

    from architectures.testing import check_architecture
    for result in check_architecture(MyArchitecture):
        print(result)

or in your own package's tests (one pytest case per check)::

    @pytest.mark.parametrize("check", list(iter_checks(MyArchitecture)), ids=str)
    def test_contract(check):
        check()           # raises CheckFailed (an AssertionError) or CheckSkipped

What the checks guarantee (each is one named check, in this order):

spec_consistent            the class reads into a valid spec: name, tags (with
                           ``lookback_use``), parameters from the ``__init__`` signature, each
                           with a default; param_grid, test_params and search_space name real
                           parameters, grid values and defaults lie in the search space;
                           every value survives the JSON
                           round trip ``save``/``load`` makes; the spec pickles (it travels
                           to Ray workers); a registered spec matches its class.
init_stores_params         ``__init__`` stores its parameters unchanged under their own
                           names and sets nothing else (``get_params()`` round trip).
fit_predict                with ``test_params`` on a small seeded synthetic dataset of the
                           architecture's input kind, ``fit`` returns self and ``predict``
                           returns finite float64 of shape ``(n,)``, with and without
                           ``groups``; "return" forecasts are not all equal (the engine
                           divides by their standard deviation).
predict_rowwise            a row's prediction does not depend on the other rows of the
                           block (removing later rows leaves earlier predictions unchanged)
                           — otherwise the walk-forward engine would leak the future.
position_range             "position" outputs: ``_predict`` itself returns values in
                           [-1, 1] (the base class clips, which would hide a scale bug).
predict_before_fit_raises  ``predict`` and ``save`` before ``fit`` raise NotFittedError.
wrong_input_shape_raises   inputs of the wrong dimension or window shape raise ValueError.
nan_input_raises           NaN/inf in X (fit and predict) or in y raise ValueError.
deterministic              the same seed gives identical predictions (skipped when
                           ``tags.non_deterministic``).
save_load_roundtrip        ``load(save(model))`` predicts exactly the same values
                           (``np.array_equal``) and has the same params and input shape.
fit_does_not_mutate_inputs fit/predict leave X, y and groups unchanged and accept
                           read-only arrays (Ray's object store hands out read-only views).
warm_start                 (``tags.supports_warm_start`` only) a fit warm-started from a
                           previous fit differs from a cold one, leaves the previous model
                           untouched, and is the same whether the previous model was just
                           fitted or saved and loaded (the engine warm-starts from artifacts).
learns_signal              with the DEFAULT params (what production runs), on data with a
                           strong planted signal, out-of-sample predictions (forecasts or
                           positions) correlate with y: corr > LEARN_MIN_CORR, where the
                           best possible forecast reaches about LEARN_SIGNAL. This is the
                           slowest check (a default-size fit on 1,200 rows); an
                           architecture that cannot learn there in seconds lists it in its
                           known failures with the reason.

Synthetic data (`synthetic_dataset`): rows ordered by asset then time (the engine's
order), two assets for pooled architectures and one for ``per_asset`` ones, windows of
``lookback=8`` bars. For "sequence"/"tabular" input each of 3 features follows an AR(1)
with coefficient 0.5 and ``y = 0.01 * (s * f0_t + sqrt(1 - s^2) * noise)``, so the
correlation of y with the current value of feature 0 is the signal ``s``. For "series"
input the return follows an AR(1) with coefficient ``s`` and y is the next return. For
"panel" input three series follow a cyclic VAR(1) (each one's next value is ``s`` times the
previous value of the next series), X holds all three windows and y is the next value of
the row's own series (its column is the row's group).
"""

from __future__ import annotations

import inspect
import json
import math
import pickle
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

import numpy as np

from architectures.base import Architecture, NotFittedError, Tags
from architectures.registry import ArchitectureSpec, get, spec_from_class
from architectures.search import Choice, FloatRange, IntRange

LOOKBACK = 8
N_FEATURES = 3
PANEL_ASSETS = 3
FIT_SIGNAL = 0.5
LEARN_SIGNAL = 0.7
LEARN_MIN_CORR = 0.2
SEED = 7

Subject = ArchitectureSpec | type[Architecture] | str


class CheckFailed(AssertionError):
    """An architecture violates the contract; the message says what and how to fix it."""


class CheckSkipped(Exception):
    """The check does not apply to this architecture; the message says why."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check. ``passed`` is True for skipped checks too."""

    name: str
    passed: bool
    message: str
    seconds: float
    skipped: bool = False

    def __str__(self) -> str:
        status = "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")
        return f"{status} {self.name} ({self.seconds:.2f} s): {self.message}"


@dataclass(frozen=True)
class Check:
    """One named check bound to an architecture; calling it runs it.

    ``check()`` returns an informative message on success and raises `CheckFailed`,
    `CheckSkipped` or whatever the architecture raised; ``check.result()`` catches all
    of these into a `CheckResult`.
    """

    name: str
    architecture: str
    description: str
    func: Callable[[_Context], str]
    context: _Context

    def __call__(self) -> str:
        return self.func(self.context)

    def __str__(self) -> str:
        return f"{self.architecture}-{self.name}"

    def result(self) -> CheckResult:
        start = time.perf_counter()
        try:
            message = self()
        except CheckSkipped as exc:
            return CheckResult(self.name, True, str(exc), time.perf_counter() - start, True)
        except CheckFailed as exc:
            return CheckResult(self.name, False, str(exc), time.perf_counter() - start)
        except Exception as exc:
            return CheckResult(
                self.name, False, _describe_exception(exc), time.perf_counter() - start
            )
        return CheckResult(self.name, True, message, time.perf_counter() - start)


def check_architecture(
    spec_or_class: Subject,
    *,
    params: Mapping[str, Any] | None = None,
    learn_params: Mapping[str, Any] | None = None,
) -> list[CheckResult]:
    """Run every check on an architecture (a spec, a class or a registered name).

    ``params`` replaces the class's ``test_params`` in the quick checks; ``learn_params``
    is laid over the default params in ``learns_signal``.
    """
    checks = iter_checks(spec_or_class, params=params, learn_params=learn_params)
    return [check.result() for check in checks]


def iter_checks(
    spec_or_class: Subject,
    *,
    params: Mapping[str, Any] | None = None,
    learn_params: Mapping[str, Any] | None = None,
) -> Iterator[Check]:
    """The checks bound to one architecture, in order. Nothing is imported or fitted
    until a check runs, so this is cheap enough for pytest collection."""
    context = _Context(spec_or_class, params, learn_params)
    for name, (func, description) in CHECKS.items():
        yield Check(name, context.name, description, func, context)


# -- synthetic data ---------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticData:
    """Train rows then test rows (the test block follows the train block in time)."""

    X_train: np.ndarray
    y_train: np.ndarray
    groups_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    groups_test: np.ndarray


def synthetic_dataset(
    tags: Tags,
    *,
    n_train: int,
    n_test: int,
    signal: float,
    seed: int = 0,
    lookback: int = LOOKBACK,
    n_features: int = N_FEATURES,
) -> SyntheticData:
    """Windows and labels shaped for ``tags.input`` (see the module docstring).

    ``n_train``/``n_test`` are rows per asset; two assets unless ``tags.per_asset``.
    """
    rng = np.random.default_rng(seed)
    n_assets = 1 if tags.per_asset else 2
    if tags.input == "panel":
        n_assets = 1 if tags.per_asset else PANEL_ASSETS
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    n = n_train + n_test
    panel = (
        _cross_lagged(rng, lookback + n, PANEL_ASSETS, signal) if tags.input == "panel" else None
    )
    for asset in range(n_assets):
        if panel is not None:
            windows = np.lib.stride_tricks.sliding_window_view(panel, lookback, axis=0)[:n]
            windows = windows.transpose(0, 2, 1)  # (n, lookback, n_assets), oldest first
            y = panel[lookback : lookback + n, asset]
            parts.append((windows.astype(np.float32), y))
        elif tags.input == "series":
            r = _ar1(rng, lookback + n, 1, signal)[:, 0]
            windows = np.lib.stride_tricks.sliding_window_view(r, lookback)[:n]
            y = r[lookback : lookback + n]
            parts.append((windows.astype(np.float32), y))
        else:
            f = _ar1(rng, lookback - 1 + n, n_features, 0.5)
            windows = np.lib.stride_tricks.sliding_window_view(f, lookback, axis=0)[:n]
            windows = windows.transpose(0, 2, 1)  # (n, lookback, n_features), oldest first
            current = f[lookback - 1 : lookback - 1 + n, 0]
            noise = rng.standard_normal(n)
            y = 0.01 * (signal * current + math.sqrt(1.0 - signal**2) * noise)
            if tags.input == "tabular":
                windows = windows.reshape(n, lookback * n_features)
            parts.append((windows.astype(np.float32), y))
    X_train = np.concatenate([X[:n_train] for X, _ in parts])
    y_train = np.concatenate([y[:n_train] for _, y in parts])
    groups = np.repeat(np.arange(n_assets, dtype=np.int64), n_train)
    X_test = np.concatenate([X[n_train:] for X, _ in parts])
    y_test = np.concatenate([y[n_train:] for _, y in parts])
    groups_test = np.repeat(np.arange(n_assets, dtype=np.int64), n_test)
    return SyntheticData(
        np.ascontiguousarray(X_train),
        y_train,
        groups,
        np.ascontiguousarray(X_test),
        y_test,
        groups_test,
    )


def _cross_lagged(rng: np.random.Generator, n: int, k: int, signal: float) -> np.ndarray:
    """``k`` unit-variance series where each one's next value is ``signal`` times the
    previous value of the next series (cyclically): a VAR(1) that only cross-asset
    models can exploit."""
    out = np.empty((n, k))
    out[0] = rng.standard_normal(k)
    scale = math.sqrt(1.0 - signal**2)
    for t in range(1, n):
        out[t] = signal * np.roll(out[t - 1], -1) + scale * rng.standard_normal(k)
    return out


def _ar1(rng: np.random.Generator, n: int, k: int, phi: float) -> np.ndarray:
    """``k`` independent stationary AR(1) series of length ``n`` with unit variance."""
    out = np.empty((n, k))
    out[0] = rng.standard_normal(k)
    scale = math.sqrt(1.0 - phi**2)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + scale * rng.standard_normal(k)
    return out


# -- the subject under test -------------------------------------------------------


class _Context:
    """Resolves the architecture lazily and builds data and models for the checks."""

    def __init__(
        self,
        subject: Subject,
        params: Mapping[str, Any] | None,
        learn_params: Mapping[str, Any] | None,
    ) -> None:
        self.subject = subject
        self.params_override = dict(params) if params is not None else None
        self.learn_params = dict(learn_params or {})
        if isinstance(subject, str):
            self.name = subject
        elif isinstance(subject, ArchitectureSpec):
            self.name = subject.name
        else:
            self.name = str(getattr(subject, "name", subject.__name__))
        self._cls: type[Architecture] | None = None

    @property
    def spec(self) -> ArchitectureSpec | None:
        """The spec given (or looked up by name); None when a class was given."""
        if isinstance(self.subject, ArchitectureSpec):
            return self.subject
        if isinstance(self.subject, str):
            return get(self.subject)
        return None

    @property
    def cls(self) -> type[Architecture]:
        if self._cls is None:
            spec = self.spec
            self._cls = spec.load() if spec is not None else cast(type[Architecture], self.subject)
        return self._cls

    @property
    def tags(self) -> Tags:
        return self.cls.tags

    @property
    def params(self) -> dict[str, Any]:
        """Defaults overlaid with test_params (or the ``params`` override)."""
        extra = self.params_override if self.params_override is not None else self.cls.test_params
        return {**self.cls.default_params(), **extra}

    def build(self, params: Mapping[str, Any] | None = None) -> Architecture:
        return self.cls(**(self.params if params is None else dict(params)))

    def data(self, *, learn: bool = False) -> SyntheticData:
        n_rows = max(120, math.ceil(2 * self.tags.min_history / (1 if self.tags.per_asset else 2)))
        if learn:
            return synthetic_dataset(
                self.tags, n_train=max(600, n_rows), n_test=300, signal=LEARN_SIGNAL, seed=SEED
            )
        return synthetic_dataset(self.tags, n_train=n_rows, n_test=60, signal=FIT_SIGNAL, seed=SEED)

    def fitted(self, data: SyntheticData) -> Architecture:
        return self.build().fit(data.X_train, data.y_train, seed=SEED, groups=data.groups_train)


# -- the checks -------------------------------------------------------------------


def _json_roundtrip_problem(value: Any) -> str | None:
    try:
        back = json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        return f"is not JSON-serialisable ({exc})"
    if back != value or type(back) is not type(value):
        return (
            f"comes back from JSON as {back!r} ({type(back).__name__}); use a scalar "
            "(int, float, str, bool, None) — save() stores params as JSON and load() "
            "rebuilds the model from them"
        )
    return None


def check_spec_consistent(ctx: _Context) -> str:
    cls = ctx.cls
    if not (isinstance(cls, type) and issubclass(cls, Architecture)):
        raise CheckFailed(f"{cls!r} is not a subclass of architectures.Architecture")
    try:
        spec = spec_from_class(cls)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(str(exc)) from exc
    signature = inspect.signature(cls.__init__)
    missing = [
        n for n in cls.param_names() if signature.parameters[n].default is inspect.Parameter.empty
    ]
    if missing:
        raise CheckFailed(
            f"__init__ parameter(s) {missing} have no default; every hyperparameter needs one "
            "so that spec.build() and the plan work with partial params"
        )
    for key, values in cls.param_grid.items():
        values = tuple(values)
        if not values:
            raise CheckFailed(f"param_grid[{key!r}] is empty")
        if len(set(map(repr, values))) != len(values):
            raise CheckFailed(f"param_grid[{key!r}] repeats a value: {values!r}")
        for value in values:
            problem = _json_roundtrip_problem(value)
            if problem:
                raise CheckFailed(f"param_grid[{key!r}] value {value!r} {problem}")
    for label, mapping in (("default", cls.default_params()), ("test_params", cls.test_params)):
        for key, value in mapping.items():
            problem = _json_roundtrip_problem(value)
            if problem:
                raise CheckFailed(f"{label} value of {key!r} = {value!r} {problem}")
    try:
        clone = pickle.loads(pickle.dumps(spec))
    except Exception as exc:
        raise CheckFailed(
            f"the spec does not pickle (it must travel to Ray workers): {exc}"
        ) from exc
    if clone != spec:
        raise CheckFailed("the spec changes when pickled and unpickled")
    given = ctx.spec
    if given is not None:
        stale = [
            f.name
            for f in fields(ArchitectureSpec)
            if f.name not in ("description", "source")
            and getattr(given, f.name) != getattr(spec, f.name)
        ]
        if stale:
            raise CheckFailed(
                f"the registered spec differs from its class in {stale}; re-register the class"
            )
    if not cls.tags.lookback_use.strip():
        raise CheckFailed(
            "tags.lookback_use is empty; say in a few words how the lookback is used "
            '(e.g. "sequence length", "flattened window", "estimation window")'
        )
    defaults = cls.default_params()
    for key, space in cls.search_space.items():
        if not isinstance(space, FloatRange | IntRange | Choice):
            raise CheckFailed(
                f"search_space[{key!r}] is a {type(space).__name__}; use FloatRange, IntRange "
                "or Choice from architectures.search"
            )
        outside = [v for v in cls.param_grid.get(key, ()) if not space.contains(v)]
        if outside:
            raise CheckFailed(f"param_grid[{key!r}] values {outside} lie outside {space}")
        if not space.contains(defaults[key]):
            raise CheckFailed(f"the default {key}={defaults[key]!r} lies outside {space}")
        if isinstance(space, Choice):
            odd = [o for o in space.options if not _json_scalar(o)]
            if odd:
                raise CheckFailed(
                    f"search_space[{key!r}] options {odd} are not scalars: `factory tune` "
                    "(Optuna) takes None, bool, int, float or str"
                )
    combos = math.prod(len(tuple(v)) for v in cls.param_grid.values())
    return (
        f"{spec.key}: {len(cls.param_names())} params, {combos} grid combination(s), "
        f"{len(cls.search_space)} searchable"
    )


def check_init_stores_params(ctx: _Context) -> str:
    cls = ctx.cls
    names = set(cls.param_names())
    candidates = [cls.default_params(), ctx.params]
    for key, values in cls.param_grid.items():
        candidates += [{**cls.default_params(), key: v} for v in values]
    for params in candidates:
        model = cls(**params)
        got = model.get_params()
        for key, value in params.items():
            if got[key] != value or type(got[key]) is not type(value):
                raise CheckFailed(
                    f"__init__ changed parameter {key!r}: passed {value!r}, stored "
                    f"{got[key]!r}; store keyword parameters unchanged and validate or "
                    "convert them in _fit"
                )
        extra = sorted(set(vars(model)) - names)
        if extra:
            raise CheckFailed(
                f"__init__ also set {extra}; it must only store its parameters (fitted "
                "state ends in '_' and is created in _fit)"
            )
    return f"{len(candidates)} parameter sets round-trip through get_params()"


def _check_predictions(pred: Any, n: int, what: str) -> np.ndarray:
    if not isinstance(pred, np.ndarray):
        raise CheckFailed(f"{what} returned {type(pred).__name__}, expected a numpy array")
    if pred.dtype != np.float64 or pred.shape != (n,):
        raise CheckFailed(
            f"{what} returned {pred.dtype} of shape {pred.shape}, expected float64 ({n},)"
        )
    if not np.isfinite(pred).all():
        raise CheckFailed(f"{what} returned NaN or inf")
    return pred


def check_fit_predict(ctx: _Context) -> str:
    data = ctx.data()
    model = ctx.build()
    returned = model.fit(data.X_train, data.y_train, seed=SEED, groups=data.groups_train)
    if returned is not model:
        raise CheckFailed("fit must return self")
    n_test = data.X_test.shape[0]
    pred = _check_predictions(
        model.predict(data.X_test, groups=data.groups_test), n_test, "predict"
    )
    _check_predictions(
        model.predict(data.X_train, groups=data.groups_train),
        data.X_train.shape[0],
        "predict on training rows",
    )
    if ctx.tags.input != "panel":  # panel models need groups (the target column)
        other = ctx.build().fit(data.X_train, data.y_train, seed=SEED)
        _check_predictions(other.predict(data.X_test), n_test, "predict after fit without groups")
    if ctx.tags.output == "return" and not np.ptp(pred) > 0:
        raise CheckFailed(
            "every forecast is the same value; the engine turns forecasts into signals with "
            "tanh(pred / std(train preds)) and needs them to vary (is the model fitting?)"
        )
    return f"fitted on {data.X_train.shape} and predicted {n_test} rows"


def check_predict_rowwise(ctx: _Context) -> str:
    data = ctx.data()
    model = ctx.fitted(data)
    g = data.groups_test
    full = model.predict(data.X_test, groups=g)
    half = full.shape[0] // 2
    head = model.predict(data.X_test[:half], groups=g[:half])
    single = model.predict(data.X_test[half : half + 1], groups=g[half : half + 1])
    tol = 1e-6 * max(1.0, float(np.max(np.abs(full))))
    worst = max(float(np.max(np.abs(head - full[:half]))), float(abs(single[0] - full[half])))
    if not worst <= tol:
        raise CheckFailed(
            f"predictions changed by up to {worst:.3g} when other rows were removed from the "
            "block; a row's prediction must depend only on its own window, never on other "
            "rows (a later row in the block is the future)"
        )
    return f"predictions of {half} rows unchanged without the later rows (max diff {worst:.2g})"


def check_position_range(ctx: _Context) -> str:
    if ctx.tags.output != "position":
        raise CheckSkipped("output is 'return'; positions are made by the engine")
    data = ctx.data()
    model = ctx.fitted(data)
    X = model._check_X(data.X_test, fitting=False)
    raw = np.asarray(
        cast(Any, model)._predict(X, groups=data.groups_test)
        if ctx.tags.input == "panel"
        else model._predict(X),
        dtype=np.float64,
    )
    lo, hi = float(raw.min()), float(raw.max())
    if lo < -1.0 or hi > 1.0:
        raise CheckFailed(
            f"_predict returned positions in [{lo:.3g}, {hi:.3g}], outside [-1, 1]; the base "
            "class clips them, which hides a scale error — return positions, or declare "
            "output='return' and let the engine scale forecasts"
        )
    return f"positions in [{lo:g}, {hi:g}]"


def _expect_raises(
    exc_type: type[Exception], action: Callable[[], Any], what: str, hint: str
) -> None:
    try:
        action()
    except exc_type:
        return
    except Exception as exc:
        raise CheckFailed(
            f"{what} raised {type(exc).__name__} ({exc}) instead of {exc_type.__name__}; {hint}"
        ) from exc
    raise CheckFailed(f"{what} did not raise {exc_type.__name__}; {hint}")


def check_predict_before_fit_raises(ctx: _Context) -> str:
    data = ctx.data()
    model = ctx.build()
    hint = "do not override predict/save; the base class checks the fitted state"
    _expect_raises(
        NotFittedError,
        lambda: model.predict(data.X_test, groups=data.groups_test),
        "predict before fit",
        hint,
    )
    with tempfile.TemporaryDirectory() as tmp:
        _expect_raises(NotFittedError, lambda: model.save(tmp), "save before fit", hint)
    return "predict and save raise NotFittedError"


def _wrong_ndim(X: np.ndarray) -> np.ndarray:
    return X.reshape(X.shape[0], -1) if X.ndim == 3 else X[:, :, None]


def _longer_window(X: np.ndarray) -> np.ndarray:
    return np.concatenate([X[:, :1], X], axis=1)


def check_wrong_input_shape_raises(ctx: _Context) -> str:
    data = ctx.data()
    hint = "let the base class validate shapes (do not override fit/predict)"
    model = ctx.build()
    _expect_raises(
        ValueError,
        lambda: model.fit(
            _wrong_ndim(data.X_train), data.y_train, seed=SEED, groups=data.groups_train
        ),
        "fit with X of the wrong dimension",
        hint,
    )
    _expect_raises(
        ValueError,
        lambda: model.fit(data.X_train, data.y_train[:-1], seed=SEED, groups=data.groups_train),
        "fit with y shorter than X",
        hint,
    )
    model = ctx.fitted(data)
    _expect_raises(
        ValueError,
        lambda: model.predict(_longer_window(data.X_test), groups=data.groups_test),
        "predict with a longer window than in fit",
        hint,
    )
    _expect_raises(
        ValueError,
        lambda: model.predict(_wrong_ndim(data.X_test), groups=data.groups_test),
        "predict with wrong dims",
        hint,
    )
    return "wrong dimensions, window shape and label length raise ValueError"


def check_nan_input_raises(ctx: _Context) -> str:
    data = ctx.data()
    hint = "non-finite inputs must be rejected with a clear ValueError, never learned from"
    bad_X = data.X_train.copy()
    bad_X.flat[bad_X.size // 2] = np.nan
    bad_y = data.y_train.copy()
    bad_y[len(bad_y) // 2] = np.nan
    model = ctx.build()
    _expect_raises(
        ValueError,
        lambda: model.fit(bad_X, data.y_train, seed=SEED, groups=data.groups_train),
        "fit with NaN in X",
        hint,
    )
    _expect_raises(
        ValueError,
        lambda: model.fit(data.X_train, bad_y, seed=SEED, groups=data.groups_train),
        "fit with NaN in y",
        hint,
    )
    model = ctx.fitted(data)
    bad_test = data.X_test.copy()
    bad_test.flat[0] = np.inf
    _expect_raises(
        ValueError,
        lambda: model.predict(bad_test, groups=data.groups_test),
        "predict with inf in X",
        hint,
    )
    return "NaN/inf in X or y raise ValueError"


def check_deterministic(ctx: _Context) -> str:
    if ctx.tags.non_deterministic:
        raise CheckSkipped("tags.non_deterministic is True")
    data = ctx.data()
    first = ctx.fitted(data).predict(data.X_test, groups=data.groups_test)
    second = ctx.fitted(data).predict(data.X_test, groups=data.groups_test)
    if not np.array_equal(first, second):
        diff = float(np.max(np.abs(first - second)))
        raise CheckFailed(
            f"two fits with the same seed predict differently (max diff {diff:.3g}); seed "
            "every random source from `seed` (np.random.default_rng(seed), torch.manual_seed, "
            "the library's seed/random_state option) and use one thread — or set "
            "tags.non_deterministic=True and document why"
        )
    return "two fits with the same seed predict identically"


def check_save_load_roundtrip(ctx: _Context) -> str:
    data = ctx.data()
    model = ctx.fitted(data)
    expected = model.predict(data.X_test, groups=data.groups_test)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model")
        loaded = type(model).load(Path(tmp) / "model")
        got = loaded.predict(data.X_test, groups=data.groups_test)
        files = sorted(p.name for p in (Path(tmp) / "model").iterdir())
    if loaded.get_params() != model.get_params():
        raise CheckFailed(
            f"the loaded model has params {loaded.get_params()} instead of {model.get_params()}"
        )
    if tuple(loaded.input_shape_) != tuple(model.input_shape_):
        raise CheckFailed(
            f"the loaded model expects {loaded.input_shape_}, not {model.input_shape_}"
        )
    if not np.array_equal(expected, got):
        diff = float(np.max(np.abs(expected - got)))
        raise CheckFailed(
            f"the loaded model predicts differently (max diff {diff:.3g}); _save must write "
            "all fitted state at full precision and _load restore it"
        )
    return f"identical predictions after save/load ({', '.join(files)})"


def check_fit_does_not_mutate_inputs(ctx: _Context) -> str:
    data = ctx.data()
    arrays = {
        "X": data.X_train.copy(),
        "y": data.y_train.copy(),
        "groups": data.groups_train.copy(),
        "X_test": data.X_test.copy(),
        "groups_test": data.groups_test.copy(),
    }
    for a in arrays.values():
        a.flags.writeable = False
    model = ctx.build()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(arrays["X"], arrays["y"], seed=SEED, groups=arrays["groups"])
            model.predict(arrays["X_test"], groups=arrays["groups_test"])
        except ValueError as exc:
            if "read-only" not in str(exc):
                raise
            raise CheckFailed(
                f"fit/predict tried to write into an input array ({exc}); copy before "
                "modifying — the engine passes read-only arrays from Ray's object store"
            ) from exc
    writable = [str(w.message) for w in caught if "writ" in str(w.message).lower()]
    if writable:
        raise CheckFailed(
            "fit/predict warned about read-only input arrays: "
            f"{writable[0][:200]}; copy the array (e.g. torch.tensor(x) or np.array(x)) "
            "instead of wrapping it (torch.from_numpy)"
        )
    originals = {
        "X": data.X_train,
        "y": data.y_train,
        "groups": data.groups_train,
        "X_test": data.X_test,
        "groups_test": data.groups_test,
    }
    changed = [k for k, a in arrays.items() if not np.array_equal(a, originals[k])]
    if changed:
        raise CheckFailed(f"fit/predict modified the input array(s) {changed}")
    return "X, y and groups unchanged; read-only inputs accepted"


def check_warm_start(ctx: _Context) -> str:
    if not ctx.tags.supports_warm_start:
        raise CheckSkipped("tags.supports_warm_start is False")
    data = ctx.data()
    half = data.X_train.shape[0] // 2
    # The first fit sees the older half of every asset's rows; the warm fit all of them.
    first_rows = np.concatenate(
        [
            np.flatnonzero(data.groups_train == g)[
                : half // max(1, len(np.unique(data.groups_train)))
            ]
            for g in np.unique(data.groups_train)
        ]
    )
    min_rows = ctx.tags.min_history
    if first_rows.size < min_rows:
        first_rows = np.arange(min(data.X_train.shape[0], max(min_rows, half)))
    g_first = data.groups_train[first_rows]
    previous = ctx.build().fit(
        data.X_train[first_rows], data.y_train[first_rows], seed=SEED, groups=g_first
    )
    before = previous.predict(data.X_test, groups=data.groups_test)
    warm = ctx.build().fit(
        data.X_train, data.y_train, seed=SEED + 1, groups=data.groups_train, warm_start=previous
    )
    got = _check_predictions(
        warm.predict(data.X_test, groups=data.groups_test), data.X_test.shape[0], "warm predict"
    )
    after = previous.predict(data.X_test, groups=data.groups_test)
    if not np.array_equal(before, after):
        raise CheckFailed(
            "a warm start changed the previous model's predictions; copy its state "
            "(copy.deepcopy, a cloned state_dict) instead of training it in place"
        )
    with tempfile.TemporaryDirectory() as tmp:
        previous.save(Path(tmp) / "previous")
        loaded = type(previous).load(Path(tmp) / "previous")
    again = ctx.build().fit(
        data.X_train, data.y_train, seed=SEED + 1, groups=data.groups_train, warm_start=loaded
    )
    repeat = again.predict(data.X_test, groups=data.groups_test)
    if not np.array_equal(got, repeat):
        diff = float(np.max(np.abs(got - repeat)))
        raise CheckFailed(
            f"a warm start from the saved and loaded previous model predicts differently "
            f"(max diff {diff:.3g}) from one from the in-memory model; _fit_warm may only use "
            "state that _save writes (the engine warm-starts from artifacts)"
        )
    cold = ctx.build().fit(data.X_train, data.y_train, seed=SEED + 1, groups=data.groups_train)
    same_as_cold = np.array_equal(got, cold.predict(data.X_test, groups=data.groups_test))
    if same_as_cold:
        raise CheckFailed(
            "the warm-started model predicts exactly what a cold fit does; _fit_warm does not "
            "start from the previous model"
        )
    return "continues from the previous model, deterministically from a saved one too"


def check_learns_signal(ctx: _Context) -> str:
    data = ctx.data(learn=True)
    params = {**ctx.cls.default_params(), **ctx.learn_params}
    model = ctx.build(params)
    model.fit(data.X_train, data.y_train, seed=SEED, groups=data.groups_train)
    pred = model.predict(data.X_test, groups=data.groups_test)
    if not np.ptp(pred) > 0:
        raise CheckFailed("the model predicts a constant on data with a strong planted signal")
    corr = float(np.corrcoef(pred, data.y_test)[0, 1])
    if not corr > LEARN_MIN_CORR:
        raise CheckFailed(
            f"with the default params the out-of-sample correlation of predictions with y "
            f"is {corr:.3f} (needs > {LEARN_MIN_CORR}) on data where the best forecast "
            f"reaches about {LEARN_SIGNAL}; the model does not learn (check the target scale, "
            "the learning rate, the training length)"
        )
    return f"out-of-sample correlation with y {corr:.3f} (> {LEARN_MIN_CORR})"


CHECKS: dict[str, tuple[Callable[[_Context], str], str]] = {
    "spec_consistent": (check_spec_consistent, "the class reads into a valid, picklable spec"),
    "init_stores_params": (check_init_stores_params, "__init__ stores its params unchanged"),
    "fit_predict": (check_fit_predict, "fit/predict on tiny data give finite (n,) floats"),
    "predict_rowwise": (check_predict_rowwise, "a row's prediction ignores the other rows"),
    "position_range": (check_position_range, "positions from _predict lie in [-1, 1]"),
    "predict_before_fit_raises": (check_predict_before_fit_raises, "NotFittedError"),
    "wrong_input_shape_raises": (check_wrong_input_shape_raises, "ValueError on bad shapes"),
    "nan_input_raises": (check_nan_input_raises, "ValueError on NaN/inf"),
    "deterministic": (check_deterministic, "same seed, same predictions"),
    "save_load_roundtrip": (check_save_load_roundtrip, "load(save(m)) predicts the same"),
    "fit_does_not_mutate_inputs": (check_fit_does_not_mutate_inputs, "inputs untouched"),
    "warm_start": (check_warm_start, "warm start continues from a (loaded) previous fit"),
    "learns_signal": (check_learns_signal, "default params learn a planted signal"),
}


def _describe_exception(exc: BaseException) -> str:
    """``raised Type: message (at file:line in function)``, pointing at the innermost
    frame outside installed libraries and this module (usually the author's code)."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [
        f
        for f in frames
        if "site-packages" not in f.filename
        and "/lib/python" not in f.filename
        and Path(f.filename).name != "testing.py"
    ]
    where = ""
    if own or frames:
        frame = (own or frames)[-1]
        where = f" (at {Path(frame.filename).name}:{frame.lineno} in {frame.name})"
    return f"raised {type(exc).__name__}: {exc}{where}"


def _json_scalar(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)
