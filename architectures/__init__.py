"""Model architectures: the plugin interface, the registry and the zoo.

Usable on its own (e.g. in a notebook)::

    from architectures import get
    model = get("lightgbm").build({"n_estimators": 50}).fit(X, y, seed=0)
"""

from architectures.base import Architecture, NotFittedError, Tags
from architectures.registry import ArchitectureSpec, available, get, register, unavailable

__all__ = [
    "Architecture",
    "ArchitectureSpec",
    "NotFittedError",
    "Tags",
    "available",
    "get",
    "register",
    "unavailable",
]
