"""The dashboard: server-rendered HTML pages over the same read models as the JSON
endpoints (`factory.api.views`), with plotly charts.

* Templates are Jinja2 with autoescape on for every template, so any text that comes
  from data (assets, architectures, feature names, reasons) is escaped. Chart data goes
  into ``data-figure`` attributes (escaped too) and is drawn by ``/static/dashboard.js``;
  pages contain no inline script, and the content security policy forbids any.
* plotly.js is served by this server from the installed ``plotly`` package
  (``/static/plotly.min.js``), never from a CDN, so the dashboard works offline.
* Pages reload every ``[api] refresh_seconds`` (0 = never).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime, time
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from factory.api import charts, views
from factory.api.routes import factory_app, response_cache
from factory.storage.results import load_returns

HERE = Path(__file__).parent
router = APIRouter(tags=["dashboard"])
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, whatever its file name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt(value: Any, spec: str = ".3f") -> str:
    """Numbers with ``spec``, UTC times as ``2024-05-31`` or ``2024-05-31 21:05``."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d}" if value.time() == time() else f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


TEMPLATES.filters["fmt"] = _fmt


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    page = TEMPLATES.get_template(name).render(
        refresh=request.app.state.refresh_seconds, path=request.url.path, **context
    )
    return HTMLResponse(page)


@functools.cache
def plotly_js() -> tuple[bytes, str]:
    """The bundled plotly.js of the installed plotly package and its ETag."""
    from plotly.offline import get_plotlyjs

    body = get_plotlyjs().encode()
    return body, hashlib.sha256(body).hexdigest()[:16]


def mount_static(api: FastAPI) -> None:
    @api.get("/static/plotly.min.js", include_in_schema=False)
    def _plotly(request: Request) -> Response:
        body, etag = plotly_js()
        headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/javascript", headers=headers)

    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


@router.get("/", response_class=HTMLResponse, summary="Dashboard: overview")
def index(request: Request) -> HTMLResponse:
    db = factory_app(request).db
    health = views.health(factory_app(request))
    lb = (
        response_cache(request)
        .get(
            ("leaderboard", 20),
            views.leaderboard_version(db),
            lambda: views.leaderboard_out(db, top=20),
        )
        .model
    )
    active = views.active_set(db)
    reb = views.rebalance(db)
    ids = [m.config.config_id for m in active.configs]
    equity = None
    if ids:
        returns = load_returns(db, "net_return", ids=ids)
        if not returns.empty:
            equity = charts.equity_chart(returns, "live set: out-of-sample net returns")
    return render(
        request,
        "index.html",
        health=health,
        lb=lb,
        active=active,
        reb=reb,
        weights=charts.weights_chart(reb.weights, f"target weights {reb.time_key}")
        if reb and reb.weights
        else None,
        equity=equity,
        runs=views.runs(db, limit=10),
    )


@router.get("/ui/leaderboard", response_class=HTMLResponse, summary="Dashboard: leaderboard")
def leaderboard_page(request: Request) -> HTMLResponse:
    return render(request, "leaderboard.html", lb=views.leaderboard_out(factory_app(request).db))


@router.get(
    "/ui/configs/{config_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "unknown config (an HTML page saying so)"}},
    summary="Dashboard: model card",
)
def config_page(request: Request, config_id: str) -> HTMLResponse:
    db = factory_app(request).db
    card = views.model_card(db, config_id)
    if card is None:
        page = render(request, "missing.html", what=f"config {config_id!r}")
        page.status_code = 404
        return page
    returns = load_returns(db, "net_return", ids=[config_id])
    equity = drawdown = None
    if not returns.empty:
        equity = charts.equity_chart(returns, "out-of-sample net return")
        drawdown = charts.drawdown_chart(returns[config_id], "drawdown")
    return render(request, "config.html", card=card, equity=equity, drawdown=drawdown)


@router.get("/ui/promotions", response_class=HTMLResponse, summary="Dashboard: promotion cycles")
def promotions_page(request: Request) -> HTMLResponse:
    return render(
        request, "promotions.html", cycles=views.cycles(factory_app(request).db, limit=30)
    )


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs_page(request: Request) -> HTMLResponse:
    """The API reference, rendered from the OpenAPI document (no external scripts)."""
    spec = request.app.openapi()
    ops = [
        {
            "method": method.upper(),
            "path": path,
            "summary": op.get("summary", ""),
            "description": op.get("description", ""),
            "params": [
                (p["name"], p["in"], p.get("required", False), p.get("description", ""))
                for p in op.get("parameters", [])
            ],
            "body": "requestBody" in op,
            "secured": "security" in op,
            "responses": sorted(op.get("responses", {})),
        }
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]
    return render(request, "docs.html", spec=spec, ops=ops)
