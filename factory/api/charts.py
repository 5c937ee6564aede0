"""Plotly figures for the dashboard, as JSON strings for ``data-figure`` attributes.

Figures are plain plotly.js specs (``{"data": [...], "layout": {...}}``); the page's
script hands them to ``Plotly.newPlot``. plotly.js reads a few HTML tags inside chart
text (``<b>``, ``<br>``...), so every label that comes from data (assets, config ids) is
HTML-escaped first: plotly turns the entities back into the literal characters, so a
name like ``<script>`` is drawn as text, never interpreted.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 50, "r": 20, "t": 40, "b": 60},
    "height": 320,
    "font": {"size": 12},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}


def _text(value: object) -> str:
    return html.escape(str(value), quote=False)


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _dump(figure: Mapping[str, Any]) -> str:
    return json.dumps(figure, separators=(",", ":"), allow_nan=False)


def weights_chart(weights: Mapping[str, float], title: str) -> str:
    """Bar chart of target weights by asset."""
    assets = sorted(weights)
    return _dump(
        {
            "data": [
                {
                    "type": "bar",
                    "x": [_text(a) for a in assets],
                    "y": _finite(np.array([weights[a] for a in assets], dtype=float)),
                    "marker": {
                        "color": ["#2a9d8f" if weights[a] >= 0 else "#e76f51" for a in assets]
                    },
                }
            ],
            "layout": {
                **_LAYOUT,
                "title": {"text": _text(title)},
                "yaxis": {"tickformat": ".1%", "title": {"text": "weight"}},
                "xaxis": {"type": "category"},
            },
        }
    )


def equity_chart(returns: pd.DataFrame, title: str) -> str:
    """Compounded growth of 1 (minus 1) per column of a ``T x series`` return frame."""
    growth = (1.0 + returns.fillna(0.0)).cumprod() - 1.0
    x = [f"{ts:%Y-%m-%d %H:%M}" for ts in growth.index]
    return _dump(
        {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": _text(col),
                    "x": x,
                    "y": _finite(growth[col].to_numpy(dtype=float)),
                }
                for col in growth.columns
            ],
            "layout": {
                **_LAYOUT,
                "title": {"text": _text(title)},
                "yaxis": {"tickformat": ".0%", "title": {"text": "cumulative net return"}},
                "showlegend": len(growth.columns) <= 15,
            },
        }
    )


def drawdown_chart(returns: pd.Series, title: str) -> str:
    """Drawdown from the running peak of compounded growth."""
    wealth = (1.0 + returns.fillna(0.0)).cumprod()
    dd = wealth / wealth.cummax() - 1.0
    return _dump(
        {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "fill": "tozeroy",
                    "line": {"color": "#e76f51"},
                    "x": [f"{ts:%Y-%m-%d %H:%M}" for ts in dd.index],
                    "y": _finite(dd.to_numpy(dtype=float)),
                }
            ],
            "layout": {
                **_LAYOUT,
                "title": {"text": _text(title)},
                "yaxis": {"tickformat": ".0%", "title": {"text": "drawdown"}},
            },
        }
    )
