"""Column rules of the inputs the factory accepts.

Bars (``--kind bars``, the default), in long form::

    timestamp, asset, open, high, low, close, volume[, bid, ask, bid_size, ask_size, vwap, trades]

or one file per asset named ``<ASSET>.csv`` / ``<ASSET>.parquet`` without the ``asset`` column.
Column names are matched case-insensitively, with spaces turned into underscores
(``Adj Close`` -> ``adj_close``); ``adj_close`` is accepted and ignored (the factory trades
the close it is given).

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
BAR_OPTIONAL = ("bid", "ask", "bid_size", "ask_size", "vwap", "trades")
IGNORED = ("adj_close",)
SENTIMENT_REQUIRED = ("score",)
SENTIMENT_OPTIONAL = ("volume",)

# How auxiliary columns appear in the panel that feature pipelines read.
PANEL_PREFIX: dict[str, str] = {"sentiment": "sentiment_", "onchain": "onchain_"}


def normalise_column(name: object) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")
