"""The read-only JSON endpoints. Each is a thin wrapper over `factory.api.views`; a
missing thing is a 404 with a message saying what to run.

New read models (events, health states, the live book's P&L) slot in as one view
function plus one route here, and a page section in the dashboard.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from factory.api import views
from factory.api.cache import VersionedCache
from factory.api.models import (
    ActiveSetOut,
    ConfigId,
    ConfigSummary,
    CycleOut,
    ErrorOut,
    Health,
    LeaderboardOut,
    ModelCard,
    PredictionOut,
    RebalanceOut,
    RunOut,
    SignalsOut,
)
from factory.app import App
from factory.storage.predictions import recent_predictions

router = APIRouter()
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "not found (the message says why)"}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Health, "description": "the database cannot be read"}
}


def response_cache(request: Request) -> VersionedCache:
    c: VersionedCache = request.app.state.cache
    return c


def factory_app(request: Request) -> App:
    app: App = request.app.state.factory
    return app


@router.get(
    "/health",
    response_model=Health,
    tags=["status"],
    responses=UNAVAILABLE,
    summary="Database reachable, newest bar, live set size, newest run of each job",
)
def get_health(request: Request) -> Health | JSONResponse:
    out = views.health(factory_app(request))
    if out.status == "unavailable":
        return JSONResponse(out.model_dump(mode="json"), status_code=503)
    return out


@router.get(
    "/leaderboard",
    response_model=LeaderboardOut,
    tags=["ratings"],
    responses=NOT_FOUND,
    summary="The newest rating snapshot (as `factory leaderboard --format json`)",
)
async def get_leaderboard(
    request: Request,
    top: Annotated[int | None, Query(ge=1, le=100_000, description="rows (default: all)")] = None,
) -> Response:
    db = factory_app(request).db
    entry = await response_cache(request).aget(
        ("leaderboard", top),
        views.leaderboard_version(db),
        lambda: views.leaderboard_out(db, top=top),
    )
    if entry.model is None:
        raise HTTPException(404, "no rating snapshot yet: run `factory rate` or POST /jobs/rate")
    return Response(entry.body, media_type="application/json")


@router.get(
    "/configs",
    response_model=list[ConfigSummary],
    tags=["configs"],
    summary="Configs with evaluation status and live-set membership",
)
def get_configs(
    request: Request,
    architecture: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["done", "failed", "pending"] | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ConfigSummary]:
    return views.config_summaries(
        factory_app(request).db,
        architecture=architecture,
        status=status,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/configs/{config_id}",
    response_model=ModelCard,
    tags=["configs"],
    responses=NOT_FOUND,
    summary="The model card of one config",
)
def get_config(request: Request, config_id: str) -> ModelCard:
    card = views.model_card(factory_app(request).db, config_id)
    if card is None:
        raise HTTPException(404, f"unknown config {config_id!r}")
    return card


@router.get(
    "/active",
    response_model=ActiveSetOut,
    tags=["promotion"],
    summary="The live set of the newest promotion cycle, best first",
)
def get_active(request: Request) -> ActiveSetOut:
    return views.active_set(factory_app(request).db)


@router.get(
    "/promotions",
    response_model=list[CycleOut],
    tags=["promotion"],
    summary="Promotion cycles, newest first, with decisions and reasons",
)
def get_promotions(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    include_skipped: Annotated[
        bool, Query(description="also the configs that were not candidates")
    ] = False,
) -> list[CycleOut]:
    return views.cycles(factory_app(request).db, limit=limit, include_skipped=include_skipped)


@router.get(
    "/promotions/{time_key}",
    response_model=CycleOut,
    tags=["promotion"],
    responses=NOT_FOUND,
    summary="One promotion cycle (by its UTC date) with every decision",
)
def get_promotion(request: Request, time_key: str) -> CycleOut:
    out = views.cycle(factory_app(request).db, time_key)
    if out is None:
        raise HTTPException(404, f"no promotion cycle {time_key!r}")
    return out


@router.get(
    "/rebalance/latest",
    response_model=RebalanceOut,
    tags=["portfolio"],
    responses=NOT_FOUND,
    summary="The newest target portfolio",
)
async def get_latest_rebalance(request: Request) -> Response:
    db = factory_app(request).db
    entry = await response_cache(request).aget(
        "rebalance/latest", views.rebalance_version(db), lambda: views.rebalance(db)
    )
    if entry.model is None:
        raise HTTPException(
            404, "no rebalance yet: run `factory rebalance` or POST /jobs/rebalance"
        )
    return Response(entry.body, media_type="application/json")


@router.get(
    "/rebalance/{day}",
    response_model=RebalanceOut,
    tags=["portfolio"],
    responses=NOT_FOUND,
    summary="The target portfolio of one bar date (YYYY-MM-DD)",
)
def get_rebalance(request: Request, day: date) -> RebalanceOut:
    out = views.rebalance(factory_app(request).db, day)
    if out is None:
        raise HTTPException(404, f"no rebalance for {day:%Y-%m-%d}")
    return out


@router.get(
    "/signals/latest",
    response_model=SignalsOut,
    tags=["portfolio"],
    summary="Newest stored signals of the live set (or of the configs named) and their ensemble",
)
def get_signals(
    request: Request,
    config_id: Annotated[
        list[ConfigId] | None,
        Query(max_length=100, description="config ids (default: the live set)"),
    ] = None,
) -> SignalsOut:
    return views.signals(factory_app(request).db, config_id)


@router.get(
    "/runs",
    response_model=list[RunOut],
    tags=["status"],
    summary="Job runs, newest first",
)
def get_runs(
    request: Request,
    job: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[RunOut]:
    return views.runs(factory_app(request).db, job=job, limit=limit)


@router.get(
    "/predictions",
    response_model=list[PredictionOut],
    tags=["inference"],
    summary="The prediction log of POST /predict, newest first",
)
def get_predictions(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    request_id: Annotated[str | None, Query(max_length=32)] = None,
) -> list[PredictionOut]:
    rows = recent_predictions(factory_app(request).db, limit=limit, request_id=request_id)
    return [PredictionOut(**r.__dict__) for r in rows]
