"""One registry of architectures, fed by ``@register`` and by entry points.

What travels (to Ray workers, into the database) is a frozen `ArchitectureSpec` whose
``entry_point`` is a string ``"package.module:Class"``: a worker rebuilds the class by
importing that string and never relies on a driver-side dict or on import side effects.

Outside packages register through the entry-point group ``model_factory.architectures``::

    [project.entry-points."model_factory.architectures"]
    my_arch = "my_package.models:MyArchitecture"

Entry points are read lazily on the first listing. A plugin that fails to import becomes
an "unavailable" row with its error (and a warning) instead of crashing the CLI.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, overload

from architectures.base import Architecture, Family, InputKind, Tags
from architectures.search import Space

ENTRY_POINT_GROUP = "model_factory.architectures"
# Every public module of these packages is imported on first use; its @register
# decorators add the zoo. A new built-in architecture is one new module, nothing else.
BUILTIN_PACKAGES = (
    "architectures.classical",
    "architectures.deep",
    "architectures.econometric",
    "architectures.rl",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ArchitectureSpec:
    """Everything needed to rebuild an architecture anywhere, without the class."""

    name: str
    version: int
    entry_point: str
    tags: Tags
    default_params: Mapping[str, Any] = field(default_factory=dict)
    param_grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    test_params: Mapping[str, Any] = field(default_factory=dict)
    search_space: Mapping[str, Space] = field(default_factory=dict)
    description: str = ""
    source: str = "builtin"

    @property
    def family(self) -> Family:
        return self.tags.family

    @property
    def input(self) -> InputKind:
        return self.tags.input

    @property
    def key(self) -> str:
        """``name@version``, the exact identity promotion history points at."""
        return f"{self.name}@{self.version}"

    def load(self) -> type[Architecture]:
        """Import the class named by ``entry_point``."""
        return load_entry_point(self.entry_point)

    def build(self, params: Mapping[str, Any] | None = None) -> Architecture:
        """A fresh, unfitted instance with ``params`` over the defaults."""
        cls = self.load()
        unknown = set(params or {}) - set(cls.param_names())
        if unknown:
            raise TypeError(
                f"{self.name} has no parameter(s) {sorted(unknown)}; "
                f"its parameters are {list(cls.param_names())}"
            )
        return cls(**{**self.default_params, **(params or {})})


@dataclass(frozen=True)
class Unavailable:
    """A plugin that is declared but could not be loaded."""

    name: str
    entry_point: str
    error: str


class ArchitectureRegistry:
    """Name -> version -> spec. Use the module-level functions, not this class."""

    def __init__(self) -> None:
        self._specs: dict[str, dict[int, ArchitectureSpec]] = {}
        self._unavailable: dict[str, Unavailable] = {}
        self._builtins_loaded = False
        self._entry_points_loaded = False

    def add(self, spec: ArchitectureSpec, *, override: bool = False) -> None:
        versions = self._specs.setdefault(spec.name, {})
        existing = versions.get(spec.version)
        if existing is not None and existing.entry_point != spec.entry_point and not override:
            raise ValueError(
                f"architecture {spec.key} is already registered by {existing.entry_point}; "
                f"pass override=True to replace it with {spec.entry_point}"
            )
        versions[spec.version] = spec
        self._unavailable.pop(spec.name, None)

    def ensure_loaded(self) -> None:
        if not self._builtins_loaded:
            # Built-ins must import; an error here is a bug and propagates (every time).
            for module in builtin_modules():
                importlib.import_module(module)
            self._builtins_loaded = True
        if not self._entry_points_loaded:
            self._entry_points_loaded = True
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = ep.load()
                if not (isinstance(cls, type) and issubclass(cls, Architecture)):
                    raise TypeError(f"{ep.value} is not an Architecture subclass")
                dist = ep.dist.name if ep.dist is not None else "unknown"
                spec = spec_from_class(cls, source=f"entry point ({dist})")
                if spec.name != ep.name:
                    raise ValueError(
                        f"entry point name {ep.name!r} differs from the class name {spec.name!r}"
                    )
                self.add(spec)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"architecture plugin {ep.name!r} ({ep.value}) is unavailable: {message}",
                    stacklevel=2,
                )
                self._unavailable[ep.name] = Unavailable(ep.name, ep.value, message)

    def get(self, name: str, version: int | None = None) -> ArchitectureSpec:
        self.ensure_loaded()
        if "@" in name and version is None:
            name, _, v = name.partition("@")
            version = int(v)
        versions = self._specs.get(name)
        if not versions:
            if name in self._unavailable:
                bad = self._unavailable[name]
                raise KeyError(f"architecture {name!r} is unavailable: {bad.error}")
            close = difflib.get_close_matches(name, list(self._specs), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"unknown architecture {name!r}{hint} (known: {', '.join(sorted(self._specs))})"
            )
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise KeyError(
                f"architecture {name!r} has no version {version} (has {sorted(versions)})"
            )
        return versions[version]

    def latest(self) -> list[ArchitectureSpec]:
        """The newest version of every available architecture, sorted by family, name."""
        self.ensure_loaded()
        specs = [v[max(v)] for v in self._specs.values()]
        return sorted(specs, key=lambda s: (s.family, s.name))

    def unavailable(self) -> list[Unavailable]:
        self.ensure_loaded()
        return sorted(self._unavailable.values(), key=lambda u: u.name)

    def remove(self, name: str) -> None:
        """Forget an architecture (tests use this to undo a temporary registration)."""
        self._specs.pop(name, None)


REGISTRY = ArchitectureRegistry()


def builtin_modules() -> list[str]:
    """The zoo's modules: every module of `BUILTIN_PACKAGES` except those starting with
    ``_`` and those a package lists in ``HELPER_MODULES`` (shared code, not models)."""
    names = []
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        helpers = set(getattr(package, "HELPER_MODULES", ()))
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_") and info.name not in helpers:
                names.append(f"{package_name}.{info.name}")
    return sorted(names)


def spec_from_class(cls: type[Architecture], *, source: str = "builtin") -> ArchitectureSpec:
    """Read the class attributes into a spec and check them."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{cls.__qualname__}.name must match [a-z][a-z0-9_]*, got {name!r}")
    tags = getattr(cls, "tags", None)
    if not isinstance(tags, Tags):
        raise TypeError(f"{cls.__qualname__}.tags must be a Tags instance")
    params = set(cls.param_names())
    for key in (*cls.param_grid, *cls.test_params, *cls.search_space):
        if key not in params:
            raise ValueError(
                f"{cls.__qualname__}: {key!r} in param_grid/test_params/search_space is not "
                f"an __init__ parameter (parameters: {sorted(params)})"
            )
    doc = (cls.__doc__ or "").strip().split("\n")[0]
    return ArchitectureSpec(
        name=name,
        version=int(cls.version),
        entry_point=f"{cls.__module__}:{cls.__qualname__}",
        tags=tags,
        default_params=cls.default_params(),
        param_grid={k: tuple(v) for k, v in cls.param_grid.items()},
        test_params=dict(cls.test_params),
        search_space=dict(cls.search_space),
        description=doc,
        source=source,
    )


@overload
def register(cls: type[Architecture], /) -> type[Architecture]: ...
@overload
def register(*, override: bool = False) -> Callable[[type[Architecture]], type[Architecture]]: ...
def register(
    cls: type[Architecture] | None = None, /, *, override: bool = False
) -> type[Architecture] | Callable[[type[Architecture]], type[Architecture]]:
    """Class decorator adding an architecture to the registry: ``@register`` or
    ``@register(override=True)`` to replace one of the same name and version."""

    def decorate(c: type[Architecture]) -> type[Architecture]:
        REGISTRY.add(spec_from_class(c), override=override)
        return c

    return decorate(cls) if cls is not None else decorate


def get(name: str, version: int | None = None) -> ArchitectureSpec:
    """The spec of ``name`` (``"lstm"`` or ``"lstm@2"``); newest version by default."""
    return REGISTRY.get(name, version)


def available() -> list[ArchitectureSpec]:
    return REGISTRY.latest()


def unavailable() -> list[Unavailable]:
    return REGISTRY.unavailable()


def load_entry_point(entry_point: str) -> type[Architecture]:
    module_name, _, qualname = entry_point.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"entry point must look like 'package.module:Class', got {entry_point!r}")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Architecture)):
        raise TypeError(f"{entry_point} is not an Architecture subclass")
    return obj
