"""The architecture interface every model in the zoo implements.

An architecture is a class. Its public ``fit``/``predict``/``save``/``load`` do the checks
(shapes, finite values, fitted state, input schema) and call the private ``_fit``,
``_predict``, ``_save``, ``_load`` that an author writes. Conventions follow
scikit-learn: ``__init__`` stores its keyword hyperparameters unchanged and does nothing
else; fitted state ends in ``_``; ``get_params()`` reads the ``__init__`` signature, so
no knob hides in ``**kwargs``.

Input shapes by ``tags.input``:

``"sequence"``  ``X`` is ``(n, lookback, n_features)`` — one window per sample.
``"tabular"``   ``X`` is ``(n, lookback * n_features)`` — the window flattened,
                lag-major (all features at lag ``lookback-1`` first, the current bar last).
``"series"``    ``X`` is ``(n, lookback)`` — the window of one series (the asset's
                one-bar return), oldest first.
``"panel"``     ``X`` is ``(n, lookback, n_assets)`` — the window of *every* asset's
                one-bar return (columns in universe order), oldest first; ``groups``
                (given to ``fit`` and ``predict``) holds the column of the asset each
                row forecasts. For cross-asset models such as a VAR.

``y`` is the forward return over the evaluation horizon for each sample. ``predict``
returns one float per sample: an expected return when ``tags.output == "return"``, a
position in [-1, 1] when ``tags.output == "position"``. Samples reach ``fit`` ordered by
asset, then time; ``groups`` (when given) holds each sample's asset code so that
sequential learners (RL) know where one asset's history ends.

Warm starts: an architecture with ``tags.supports_warm_start`` implements
``_fit_warm(X, y, *, seed, groups, previous)``, which continues training from
``previous`` (a fitted model of the same class and params, typically the previous
walk-forward block's, possibly just loaded from an artifact) instead of starting cold.
``fit(..., warm_start=previous)`` calls it. It must not modify ``previous`` and must use
only the state that ``save`` writes, so a warm start from a loaded model gives exactly
what a warm start from the in-memory one gives.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, cast

import numpy as np

from architectures.search import Space

Family = Literal["deep", "classical", "econometric", "rl"]
InputKind = Literal["sequence", "tabular", "series", "panel"]
OutputKind = Literal["return", "position"]

FAMILIES: tuple[Family, ...] = ("deep", "classical", "econometric", "rl")
INPUT_NDIM: dict[str, int] = {"sequence": 3, "tabular": 2, "series": 2, "panel": 3}
PARAMS_FILE = "architecture.json"


class NotFittedError(RuntimeError):
    """``predict`` or ``save`` called before ``fit``."""


@dataclass(frozen=True)
class Tags:
    """What the engine and the scheduler need to know about an architecture.

    family          deep | classical | econometric | rl
    input           sequence | tabular | series | panel (see the module docstring)
    output          "return" (a forecast, squashed into a signal by the engine) or
                    "position" (already a position in [-1, 1])
    per_asset       fit one model per asset instead of one pooled model
    non_deterministic  same seed may not give bit-identical predictions
    supports_warm_start  can continue training from a previous fit (``_fit_warm``)
    min_history     fewest training samples ``fit`` accepts
    feature_sets    feature sets the architecture can use (None = any); the plan
                    excludes the others with this as the reason
    cost_hint       relative compute cost (1 = a small gradient-boosting fit); the
                    scheduler starts expensive configs first until it has timings
    lookbacks       lookbacks the architecture is expanded with (None = every lookback
                    of the plan); the plan excludes the others with this as the reason
    lookback_use    how the lookback is used, in a few words ("sequence length",
                    "flattened window", "estimation window", "seasonal period", ...);
                    shown by ``factory arch show``
    """

    family: Family
    input: InputKind
    output: OutputKind = "return"
    per_asset: bool = False
    non_deterministic: bool = False
    supports_warm_start: bool = False
    min_history: int = 50
    feature_sets: tuple[str, ...] | None = None
    cost_hint: float = 1.0
    lookbacks: tuple[int, ...] | None = None
    lookback_use: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.input not in INPUT_NDIM:
            raise ValueError(f"input must be one of {tuple(INPUT_NDIM)}, got {self.input!r}")
        if self.output not in ("return", "position"):
            raise ValueError(f"output must be 'return' or 'position', got {self.output!r}")
        if self.lookbacks is not None and (
            not self.lookbacks or any(int(lb) < 1 for lb in self.lookbacks)
        ):
            raise ValueError(f"lookbacks must be positive integers, got {self.lookbacks!r}")


class Architecture(ABC):
    """Base class of every architecture. Subclass, set the class attributes, write the
    four private methods, and decorate with ``@register``.

    Class attributes:
        name        registry name (lowercase, ``[a-z0-9_]+``)
        version     bump when the model's behaviour changes; configs and promotion
                    history point at an exact version
        tags        a `Tags`
        param_grid  hyperparameter values the plan expands (name -> candidate values)
        search_space  ranges `factory tune` searches (name -> `architectures.search`
                    `FloatRange` / `IntRange` / `Choice`); every grid value lies inside
        test_params tiny settings (1 epoch, 8 trees) used by ``check_architecture``
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    tags: ClassVar[Tags]
    param_grid: ClassVar[Mapping[str, Sequence[Any]]] = {}
    search_space: ClassVar[Mapping[str, Space]] = {}
    test_params: ClassVar[Mapping[str, Any]] = {}

    # Set from ``tags`` for the design's plain class-attribute access.
    family: ClassVar[Family]
    input: ClassVar[InputKind]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        tags = cls.__dict__.get("tags")
        if isinstance(tags, Tags):
            cls.family = tags.family
            cls.input = tags.input

    # -- parameters ---------------------------------------------------------------
    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Hyperparameter names, read from the ``__init__`` signature."""
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                raise TypeError(f"{cls.__name__}.__init__ must not take *args/**kwargs")
            names.append(p.name)
        return tuple(names)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {
            n: sig.parameters[n].default
            for n in cls.param_names()
            if sig.parameters[n].default is not inspect.Parameter.empty
        }

    def get_params(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- public API: checks, then the author's private methods --------------------
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None = None,
        warm_start: Architecture | None = None,
    ) -> Self:
        """Fit on ``X``/``y``. ``warm_start``: a fitted model of the same class and params
        to continue from (only when ``tags.supports_warm_start``); the engine passes the
        previous walk-forward block's model."""
        X = self._check_X(X, fitting=True)
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y has shape {y.shape}, expected ({X.shape[0]},)")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or inf; drop those samples before fit")
        if X.shape[0] < self.tags.min_history:
            raise ValueError(
                f"{self.name} needs at least {self.tags.min_history} training samples, "
                f"got {X.shape[0]}"
            )
        groups = self._check_groups(groups, X.shape[0])
        if warm_start is not None:
            self._check_warm_start(warm_start, X)
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        if warm_start is not None:
            self._fit_warm(X, y, seed=int(seed), groups=groups, previous=warm_start)
        else:
            self._fit(X, y, seed=int(seed), groups=groups)
        self.is_fitted_ = True
        return self

    def _check_groups(self, groups: np.ndarray | None, n: int) -> np.ndarray | None:
        if groups is None:
            if self.tags.input == "panel":
                raise ValueError(
                    f"{self.name} takes panel input: pass groups (the column of the asset "
                    "each row forecasts)"
                )
            return None
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups has shape {groups.shape}, expected ({n},)")
        return groups

    def _check_warm_start(self, previous: Architecture, X: np.ndarray) -> None:
        if not self.tags.supports_warm_start:
            raise ValueError(f"{self.name} does not support warm starts")
        if type(previous) is not type(self):
            raise ValueError(
                f"warm start from a {type(previous).__name__}, expected a {type(self).__name__}"
            )
        previous._check_fitted()
        if previous.get_params() != self.get_params():
            raise ValueError("warm start from a model with different params")
        if tuple(previous.input_shape_) != tuple(int(s) for s in X.shape[1:]):
            raise ValueError(
                f"warm start from a model fitted on samples of shape "
                f"{tuple(previous.input_shape_)}, got {tuple(X.shape[1:])}"
            )

    def predict(self, X: np.ndarray, *, groups: np.ndarray | None = None) -> np.ndarray:
        """One float per row. ``groups`` is needed by panel architectures only (the
        column of the asset each row forecasts); others ignore it."""
        self._check_fitted()
        X = self._check_X(X, fitting=False)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if self.tags.input == "panel":
            groups = self._check_groups(groups, X.shape[0])
            raw = cast(Any, self)._predict(X, groups=groups)
        else:
            raw = self._predict(X)
        out = np.asarray(raw, dtype=np.float64).reshape(-1)
        if out.shape != (X.shape[0],):
            raise RuntimeError(
                f"{self.name}._predict returned {out.shape[0]} values for {X.shape[0]} samples"
            )
        if not np.isfinite(out).all():
            raise RuntimeError(f"{self.name}._predict returned NaN or inf")
        if self.tags.output == "position":
            out = np.clip(out, -1.0, 1.0)
        return out

    def save(self, path: str | Path) -> None:
        """Write the fitted model into directory ``path`` (created if missing)."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "name": self.name,
            "version": self.version,
            "params": self.get_params(),
            "input_shape": list(self.input_shape_),
            "tags": asdict(self.tags),
        }
        (path / PARAMS_FILE).write_text(json.dumps(meta, indent=2, default=_json_default))
        self._save(path)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Rebuild a fitted model written by ``save``."""
        path = Path(path)
        meta = json.loads((path / PARAMS_FILE).read_text())
        if meta["name"] != cls.name or int(meta["version"]) != cls.version:
            raise ValueError(
                f"{path} holds {meta['name']} v{meta['version']}, not {cls.name} v{cls.version}"
            )
        model = cls(**meta["params"])
        model.input_shape_ = tuple(meta["input_shape"])
        model._load(path)
        model.is_fitted_ = True
        return model

    # -- what an author writes ----------------------------------------------------
    @abstractmethod
    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        """Fit on validated, finite ``X``/``y``. Seed every random source from ``seed``."""

    @abstractmethod
    def _predict(self, X: np.ndarray) -> np.ndarray:
        """Return one float per row of the validated ``X``. Panel architectures define
        ``_predict(self, X, groups=None)`` and receive the target columns."""

    def _fit_warm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: Architecture,
    ) -> None:
        """Continue training from ``previous`` (see the module docstring). Only called
        when ``tags.supports_warm_start``; the default refuses."""
        raise NotImplementedError(
            f"{self.name} sets tags.supports_warm_start but does not implement _fit_warm"
        )

    @abstractmethod
    def _save(self, path: Path) -> None:
        """Write fitted state into the existing directory ``path``."""

    @abstractmethod
    def _load(self, path: Path) -> None:
        """Restore fitted state written by ``_save`` (params are already set)."""

    # -- checks -------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not getattr(self, "is_fitted_", False):
            raise NotFittedError(f"{self.name} is not fitted; call fit() first")

    def _check_X(self, X: np.ndarray, *, fitting: bool) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        ndim = INPUT_NDIM[self.tags.input]
        if X.ndim != ndim:
            raise ValueError(
                f"{self.name} takes {self.tags.input} input with {ndim} dimensions, "
                f"got an array of shape {X.shape}"
            )
        if not fitting and tuple(X.shape[1:]) != tuple(self.input_shape_):
            raise ValueError(
                f"{self.name} was fitted on samples of shape {tuple(self.input_shape_)}, "
                f"got {tuple(X.shape[1:])}"
            )
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf; drop or impute those samples first")
        return X


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot serialise {value!r} to JSON")


def require(module: str, *, package: str | None = None) -> Any:
    """Import an optional heavy dependency inside a method, with a helpful error."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - all are runtime deps today
        pkg = package or module.split(".")[0]
        raise ImportError(
            f"this architecture needs {pkg!r}; install it with `pip install {pkg}`"
        ) from exc
