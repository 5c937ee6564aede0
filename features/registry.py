"""The registry of feature pipelines.

A pipeline is a pure, causal function ``Panel -> FeatureFrame``: the value at bar t may
use bars up to and including t and nothing later. It declares the panel columns it
requires; the plan excludes it (with that reason) for data that lacks them.

Register one with the decorator::

    @feature_set("momentum", requires=("close",), description="returns over horizons")
    def momentum(panel: Panel) -> FeatureFrame: ...

Anything *fitted* (scalers, feature selection) does not belong here: pipelines are
computed once per data version and shared by every config, so they must be stateless.
Fitted steps live in `features.preprocess` and are fitted on each training window by
the walk-forward engine.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from features.frame import FeatureFrame, Panel

Compute = Callable[[Panel], FeatureFrame]


@dataclass(frozen=True)
class FeatureSet:
    """A named causal pipeline with its declared inputs.

    ``version`` is part of every cache key and config id that uses the pipeline: bump
    it whenever the pipeline's output changes.

    ``optional`` lists columns the pipeline reads *when present* (e.g. quote sizes for
    order flow); they add features but are not required. ``reads`` tells the cache
    which panel columns the output depends on. ``min_assets`` is the smallest universe
    the pipeline makes sense on (cross-asset features need at least two).
    """

    name: str
    compute: Compute
    requires: frozenset[str]
    description: str = ""
    version: int = 1
    optional: frozenset[str] = frozenset()
    min_assets: int = 1

    def missing(self, columns: Sequence[str]) -> frozenset[str]:
        """Required columns absent from ``columns``.

        A requirement ending in ``*`` is a prefix: ``"onchain_*"`` is met by any column
        starting with ``onchain_``.
        """
        present = set(columns)
        absent = set()
        for req in self.requires:
            if req.endswith("*"):
                if not any(c.startswith(req[:-1]) for c in present):
                    absent.add(req)
            elif req not in present:
                absent.add(req)
        return frozenset(absent)

    def reads(self, columns: Sequence[str]) -> tuple[str, ...]:
        """The columns of ``columns`` the pipeline reads (required or optional, with
        ``*`` prefixes expanded), sorted."""
        wanted = self.requires | self.optional
        exact = {w for w in wanted if not w.endswith("*")}
        prefixes = tuple(w[:-1] for w in wanted if w.endswith("*"))
        return tuple(sorted(c for c in set(columns) if c in exact or c.startswith(prefixes)))

    def __call__(self, panel: Panel) -> FeatureFrame:
        absent = self.missing(panel.columns)
        if absent:
            raise ValueError(
                f"feature set {self.name!r} needs columns {sorted(absent)} that the data lacks"
            )
        return self.compute(panel)


_REGISTRY: dict[str, FeatureSet] = {}


def feature_set(
    name: str,
    *,
    requires: Sequence[str],
    optional: Sequence[str] = (),
    description: str = "",
    version: int = 1,
    min_assets: int = 1,
    override: bool = False,
) -> Callable[[Compute], Compute]:
    """Decorator registering ``compute`` as the feature set ``name``."""

    def decorate(compute: Compute) -> Compute:
        register_feature_set(
            FeatureSet(
                name,
                compute,
                frozenset(requires),
                description or (compute.__doc__ or "").strip().split("\n")[0],
                version,
                frozenset(optional),
                min_assets,
            ),
            override=override,
        )
        return compute

    return decorate


def register_feature_set(spec: FeatureSet, *, override: bool = False) -> None:
    if spec.name in _REGISTRY and not override and _REGISTRY[spec.name].compute is not spec.compute:
        raise ValueError(f"feature set {spec.name!r} is already registered (pass override=True)")
    _REGISTRY[spec.name] = spec


def get_feature_set(name: str) -> FeatureSet:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(
            f"unknown feature set {name!r}{hint} (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


def feature_sets() -> dict[str, FeatureSet]:
    """All registered feature sets by name, in registration order."""
    _load_builtin()
    return dict(_REGISTRY)


def _load_builtin() -> None:
    # Importing the package registers the built-in pipelines.
    import features.pipelines  # noqa: F401
