"""Column rules of the inputs the factory accepts.

Bars (``--kind bars``, the default), in long form::

    timestamp, asset, open, high, low, close, volume[, bid, ask, bid_size, ask_size, vwap, trades]

or one file per asset named ``<ASSET>.csv`` / ``<ASSET>.parquet`` without the ``asset`` column.
Column names are matched case-insensitively, with spaces turned into underscores
(``Adj Close`` -> ``adj_close``); ``adj_close`` is accepted and ignored (the factory trades
the close it is given). ``date`` / ``datetime`` / ``time`` are read as ``timestamp`` and
``symbol`` / ``ticker`` as ``asset`` when the file has no column of the canonical name.

Close-only bars (``--close-only``): ``timestamp, asset, close`` (``adj_close`` ignored), for
universes that publish adjusted closes only (the ``sp500-20`` sample). Nothing is invented:
open, high, low and volume are stored as NULL, and pipelines that need them are excluded by
the plan. An asset's bars are all close-only or all OHLCV; an import mixing the two for one
asset is refused.

Sentiment (``--kind sentiment``): ``timestamp, asset, score[, volume]``.
On-chain (``--kind onchain``): ``timestamp, asset`` and any numeric metric columns.

Timestamps: ISO dates or date-times. Naive values are taken as UTC; values with an offset
are converted to UTC; a file may not mix the two. All timestamps are stored as naive UTC.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["bars", "sentiment", "onchain"]
KINDS: tuple[Kind, ...] = ("bars", "sentiment", "onchain")

KEY = ("timestamp", "asset")
PRICES = ("open", "high", "low", "close")
BAR_REQUIRED = (*PRICES, "volume")
# The bar columns a close-only import leaves NULL (never invented from the close).
NOT_IN_CLOSE_ONLY = ("open", "high", "low", "volume")
BAR_OPTIONAL = ("bid", "ask", "bid_size", "ask_size", "vwap", "trades")
IGNORED = ("adj_close",)
SENTIMENT_REQUIRED = ("score",)
SENTIMENT_OPTIONAL = ("volume",)

# How auxiliary columns appear in the panel that feature pipelines read.
PANEL_PREFIX: dict[str, str] = {"sentiment": "sentiment_", "onchain": "onchain_"}


# Common spellings of the key columns, accepted when the canonical name is absent.
ALIASES = {
    "date": "timestamp",
    "datetime": "timestamp",
    "time": "timestamp",
    "symbol": "asset",
    "ticker": "asset",
}


def normalise_column(name: object) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def canonical_columns(columns: list[object]) -> list[str]:
    """Normalised names, with aliases (``Date`` -> ``timestamp``) mapped when unambiguous."""
    names = [normalise_column(c) for c in columns]
    out = []
    for n in names:
        target = ALIASES.get(n)
        if (
            target is not None
            and target not in names
            and sum(ALIASES.get(m) == target for m in names) == 1
        ):
            out.append(target)
        else:
            out.append(n)
    return out
