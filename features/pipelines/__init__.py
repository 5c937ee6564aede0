"""Built-in feature pipelines. Importing this package registers all eight of them, in the
order of the design (which is the registry's listing order).

Each module documents its features formula by formula; ``docs/features.md`` collects
them with their sources.
"""

# The import order is the registration order.
from features.pipelines import ohlcv, technical, momentum, volatility  # noqa: I001
from features.pipelines import orderflow, cross_asset, sentiment, onchain

__all__ = [
    "cross_asset",
    "momentum",
    "ohlcv",
    "onchain",
    "orderflow",
    "sentiment",
    "technical",
    "volatility",
]
