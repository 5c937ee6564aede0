"""``factory report``: one self-contained HTML file a reviewer can open anywhere.

Sections: the leaderboard (every metric, DSR, eligibility, gate), the historical
simulation of ``factory simulate`` (equity curves and drawdowns of the factory and every
baseline, rolling Sharpe, the strategies table), the live set's correlation heat map, the
promotion timeline (who entered and left, when and why, from ``promotions``), health
states where known, overfitting diagnostics (DSR per config, the pool's PBO, the expected
best Sharpe under no skill against the observed best) and a model card per config.

Self-contained: plotly.js is inlined (the script ``include_plotlyjs=True`` embeds,
``plotly.offline.get_plotlyjs()``), there is no external ``src`` or ``href``, so the file
opens with no network. Safe with hostile names: the template is Jinja2 with autoescape, so
every string from data (assets, architectures, feature names, reasons) is escaped; figure
specs travel in escaped ``data-figure`` attributes (no data inside a script) and their
labels are HTML-escaped once more, because plotly.js renders a few tags in chart text.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from factory import catalog
from factory.app import App
from factory.jobs import NothingToDo
from factory.leaderboard import leaderboard, population_caption
from factory.review.summary import STRATEGY_ORDER
from factory.storage import decisions
from factory.storage.results import load_configs, load_returns
from rating.engine import table_columns
from rating.policy import RatingPolicy

HERE = Path(__file__).parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ROLLING = 63  # bars of the rolling Sharpe (about a quarter of daily bars)
MAX_HEATMAP = 40
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
    "height": 340,
    "font": {"size": 12},
    "legend": {"orientation": "h"},
}


def _text(value: object) -> str:
    """A chart label: plotly.js renders <b>, <br>... in text, so escape it (plotly turns
    the entities back into characters: drawn as text, never interpreted)."""
    return html.escape(str(value), quote=False)


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def _dump(figure: Mapping[str, Any]) -> str:
    return json.dumps(figure, separators=(",", ":"), allow_nan=False)


def _dates(index: pd.DatetimeIndex) -> list[str]:
    return [f"{ts:%Y-%m-%d %H:%M}" for ts in index]


def _lines(frame: pd.DataFrame, title: str, ytitle: str, fmt: str = "") -> str:
    x = _dates(pd.DatetimeIndex(frame.index))
    return _dump(
        {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": _text(c),
                    "x": x,
                    "y": _finite(frame[c].to_numpy(dtype=float)),
                }
                for c in frame.columns
            ],
            "layout": {
                **_LAYOUT,
                "title": {"text": _text(title)},
                "yaxis": {"title": {"text": ytitle}, "tickformat": fmt},
            },
        }
    )


# -- the simulation --------------------------------------------------------------------------
def _simulation_section(app: App) -> dict[str, Any]:
    from factory.review import simulate

    try:
        sim = simulate(app)
    except (NothingToDo, ValueError) as exc:
        return {"available": False, "why": str(exc)}
    replay, p = sim.replay, sim.payload
    index = replay.index[1:]
    series: dict[str, np.ndarray] = {"factory": replay.factory.net[1:]}
    for name in ("equal_weight_all", "best_static", "naive_top_k"):
        if name in replay.baselines:
            series[name] = replay.baselines[name].net[1:]
    if replay.random_runs:
        series["random_k (mean of seeds)"] = np.mean(
            [r.net[1:] for r in replay.random_runs], axis=0
        )
    series["buy_and_hold"] = replay.baselines["buy_and_hold"].net[1:]
    returns = pd.DataFrame(series, index=index)
    wealth = (1.0 + returns).cumprod()
    drawdown = wealth / wealth.cummax() - 1.0
    ppy = sim.history.options.policy.periods_per_year
    rolling = returns.rolling(ROLLING, min_periods=ROLLING)
    with np.errstate(invalid="ignore", divide="ignore"):
        roll_sharpe = rolling.mean() / rolling.std() * np.sqrt(ppy)
    roll_sharpe = roll_sharpe.where(np.isfinite(roll_sharpe))
    spread = p["random_k_spread"]
    rows = []
    for name in STRATEGY_ORDER:
        if name in p["strategies"]:
            m = p["strategies"][name]
            label = name
            if name == "random_k":
                label = (
                    f"random_k ({spread['seeds']} seeds; Sharpe ± {spread.get('sharpe', 0):.2f})"
                )
            rows.append({"name": label, **m})
    n_active = replay.factory.members.sum(axis=1) if replay.factory.members is not None else None
    active_chart = None
    if n_active is not None:
        active_chart = _lines(
            pd.DataFrame({"live set size": n_active.astype(float)}, index=replay.index),
            "the replayed live set's size",
            "configs",
        )
    return {
        "available": True,
        "payload": p,
        "rows": rows,
        "equity": _lines(wealth - 1.0, "growth of 1 (net of costs)", "return", ".0%"),
        "drawdown": _lines(drawdown, "drawdown", "drawdown", ".0%"),
        "rolling": _lines(roll_sharpe, f"rolling Sharpe ({ROLLING} bars, annualised)", "Sharpe"),
        "active_chart": active_chart,
        "by_year": p["by_year"],
        "by_regime": p["by_regime"],
        "strategy_names": [n for n in STRATEGY_ORDER if n in p["strategies"]],
    }


# -- leaderboard, correlations, promotions, overfitting ----------------------------------
LEADER_COLUMNS = ("rank", "config_id", "architecture", "feature_set", "lookback", "status")
NOT_METRICS = {
    "rank",
    "eligible",
    "gate",
    "health",
    "failed",
    "family",
    "architecture",
    "feature_set",
    "lookback",
    "params",
    "feature_selection",
    "status",
    "snapshot_id",
}


def _leaderboard_section(app: App, policy: RatingPolicy) -> dict[str, Any]:
    lb = leaderboard(app.db)
    if lb is None:
        return {"available": False, "why": "no rating snapshot yet: run `factory rate`"}
    table = lb.table
    order = {c: i for i, c in enumerate(table_columns(policy))}
    metrics = sorted(
        (
            c
            for c in table.columns
            if c not in NOT_METRICS and pd.api.types.is_numeric_dtype(table[c].dtype)
        ),
        key=lambda c: (order.get(c, len(order)), c),
    )
    rows = []
    for cid, r in table.iterrows():
        rows.append(
            {
                "config_id": str(cid),
                "rank": int(r["rank"]),
                "architecture": r.get("architecture", ""),
                "feature_set": r.get("feature_set", ""),
                "lookback": r.get("lookback", ""),
                "params": json.dumps(r.get("params", {}), sort_keys=True),
                "status": r.get("status", ""),
                "eligible": bool(r.get("eligible", False)),
                "gate": r.get("gate", "") or "",
                "health": r.get("health", "") or "",
                "metrics": [plain(r[c]) for c in metrics],
            }
        )
    snap = lb.snapshot
    return {
        "available": True,
        "snapshot": snap,
        "caption": population_caption(snap),
        "metrics": metrics,
        "rows": rows,
        "active": list(lb.active),
        "table": table,
    }


def _dsr_chart(table: pd.DataFrame) -> str:
    ordered = table.sort_values("dsr", ascending=False, na_position="last")
    colours = ["#2a9d8f" if bool(e) else "#adb5bd" for e in ordered["eligible"]]
    return _dump(
        {
            "data": [
                {
                    "type": "bar",
                    "x": [_text(c) for c in ordered.index],
                    "y": _finite(ordered["dsr"].to_numpy(dtype=float)),
                    "marker": {"color": colours},
                }
            ],
            "layout": {
                **_LAYOUT,
                "title": {"text": "deflated Sharpe ratio per config (green: eligible)"},
                "yaxis": {"range": [0, 1], "title": {"text": "DSR"}},
                "xaxis": {"type": "category", "showticklabels": len(ordered) <= 60},
            },
        }
    )


def _overfitting_section(board: Mapping[str, Any], ppy: int) -> dict[str, Any]:
    if not board.get("available"):
        return {"available": False}
    table: pd.DataFrame = board["table"]
    snap = board["snapshot"]
    sr0 = snap.summary.get("sr_benchmark")
    best = table["sharpe_all"].max() if "sharpe_all" in table else float("nan")
    return {
        "available": True,
        "pbo": snap.pbo,
        "pbo_warning": bool(snap.summary.get("pbo_warning")),
        "n_trials": snap.summary.get("n_trials"),
        "n_trials_effective": snap.n_trials_effective,
        "expected_best": None if sr0 is None else float(sr0) * float(np.sqrt(ppy)),
        "observed_best": plain(float(best)),
        "dsr_chart": _dsr_chart(table) if "dsr" in table else None,
    }


def _correlation_chart(app: App, active: Sequence[str]) -> str | None:
    if len(active) < 2:
        return None
    ids = list(active)[:MAX_HEATMAP]
    returns = load_returns(app.db, "net_return", ids)
    if returns.shape[1] < 2:
        return None
    corr = returns.corr(min_periods=20).reindex(index=ids, columns=ids)
    labels = [_text(c) for c in ids]
    return _dump(
        {
            "data": [
                {
                    "type": "heatmap",
                    "z": [_finite(row) for row in corr.to_numpy(dtype=float)],
                    "x": labels,
                    "y": labels,
                    "zmin": -1,
                    "zmax": 1,
                    "colorscale": "RdBu",
                    "reversescale": True,
                }
            ],
            "layout": {
                **_LAYOUT,
                "height": 420,
                "title": {"text": "correlation of the live set's net returns"},
                "xaxis": {"type": "category"},
                "yaxis": {"type": "category", "autorange": "reversed"},
            },
        }
    )


def _promotions_section(app: App) -> dict[str, Any]:
    from factory.api.views import decisions_for

    entries = [
        d
        for d in decisions_for(app.db, include_skipped=False)
        if d.action in ("promoted", "demoted")
    ]
    chart = None
    if entries:
        traces = []
        for action, colour, symbol in (
            ("promoted", "#2a9d8f", "triangle-up"),
            ("demoted", "#e76f51", "triangle-down"),
        ):
            chosen = [d for d in entries if d.action == action]
            if chosen:
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "name": action,
                        "x": [f"{d.at:%Y-%m-%d %H:%M}" for d in chosen],
                        "y": [_text(d.config_id) for d in chosen],
                        "text": [_text(d.reason) for d in chosen],
                        "marker": {"color": colour, "symbol": symbol, "size": 10},
                    }
                )
        chart = _dump(
            {
                "data": traces,
                "layout": {
                    **_LAYOUT,
                    "title": {"text": "promotion timeline (hover: the reason)"},
                    "yaxis": {"type": "category"},
                },
            }
        )
    return {"entries": entries, "chart": chart}


def _rebalance_section(app: App) -> dict[str, Any] | None:
    info = decisions.latest_rebalance(app.db)
    if info is None:
        return None
    weights = {str(a): float(w) for a, w in info.weights.items()}
    assets = sorted(weights)
    chart = _dump(
        {
            "data": [
                {
                    "type": "bar",
                    "x": [_text(a) for a in assets],
                    "y": _finite(np.array([weights[a] for a in assets])),
                    "marker": {
                        "color": ["#2a9d8f" if weights[a] >= 0 else "#e76f51" for a in assets]
                    },
                }
            ],
            "layout": {
                **_LAYOUT,
                "title": {
                    "text": _text(f"target weights of the latest rebalance ({info.time_key})")
                },
                "yaxis": {"tickformat": ".1%"},
                "xaxis": {"type": "category"},
            },
        }
    )
    return {"info": info, "weights": [(a, weights[a]) for a in assets], "chart": chart}


def _live_book_section(app: App) -> dict[str, Any] | None:
    """The live book's own after-cost record (what the published rebalances earned)."""
    from factory.portfolio.live import book_summary
    from factory.storage.live_book import load_book_returns

    summary = book_summary(app)
    if summary is None:
        return None
    frame = load_book_returns(app.db).set_index("bar_ts")
    wealth = (1.0 + frame["net"]).cumprod().rename("live book, after costs")
    chart = _lines(wealth.to_frame(), "the live book: growth of 1 after costs", "wealth", ".3f")
    return {"summary": summary, "chart": chart}


def _health_rows(board: Mapping[str, Any]) -> list[dict[str, str]]:
    if not board.get("available"):
        return []
    return [
        {"config_id": r["config_id"], "health": r["health"], "status": r["status"]}
        for r in board["rows"]
        if r["health"]
    ]


# -- model cards -------------------------------------------------------------------------------
def _model_cards(app: App) -> list[dict[str, Any]]:
    from factory.api.views import model_card

    cards = []
    for cid in load_configs(app.db).index:
        card = model_card(app.db, str(cid), history=20)
        if card is None:
            continue
        data = card.model_dump(mode="json")
        data["params_json"] = json.dumps(data["config"]["params"], sort_keys=True)
        cards.append(data)
    cards.sort(
        key=lambda c: (
            (c["latest_rating"] or {}).get("rank") is None,
            (c["latest_rating"] or {}).get("rank") or 0,
            c["config"]["config_id"],
        )
    )
    return cards


# -- assembly --------------------------------------------------------------------------------
def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        if not np.isfinite(v):
            return "-"
        if isinstance(value, int | np.integer) and spec == ".3f":
            return str(int(value))
        return format(v, spec)
    if isinstance(value, datetime | pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


TEMPLATES.filters["num"] = _fmt


def plain(value: Any) -> Any:
    """A JSON/template-safe scalar (NaN -> None, numpy -> Python)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def render_report(app: App, *, generated_at: datetime | None = None) -> str:
    """The report as one HTML string."""
    import plotly.offline

    settings = app.settings
    ppy = settings.rating.periods_per_year
    board = _leaderboard_section(app, settings.rating.policy())
    cycle = decisions.latest_cycle(app.db)
    active = list(cycle.active) if cycle else []
    template = TEMPLATES.get_template("report.html")
    return template.render(
        generated_at=generated_at or app.now(),
        database=app.db.describe(),
        plotly_js=plotly.offline.get_plotlyjs(),
        board=board,
        simulation=_simulation_section(app),
        correlation=_correlation_chart(app, active),
        rebalance=_rebalance_section(app),
        live_book=_live_book_section(app),
        active=active,
        promotions=_promotions_section(app),
        health=_health_rows(board),
        overfitting=_overfitting_section(board, ppy),
        walk_forward=catalog.eval_params(settings).describe(),
        cards=_model_cards(app),
    )


def write_report(app: App, path: str | Path) -> Path:
    """Render the report and write it atomically to ``path``; returns the resolved path."""
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(app)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".report-", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)
    return target
