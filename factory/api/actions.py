"""Endpoints that change state or write: ``POST /jobs/{job}`` (token required) and
``POST /predict`` (writes the prediction log only; open like the read endpoints).

Jobs run synchronously in a worker thread, one at a time per server process, through
the same functions as the CLI and the daemon (`factory.jobs`), so they are idempotent
for their time key exactly as there.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from factory.api import views
from factory.api.inference import NoLiveSet, PredictError, Predictor
from factory.api.models import ErrorOut, JobOut, PredictOut, PredictRequest, UnprocessableOut
from factory.api.routes import factory_app
from factory.api.security import require_token
from factory.data.errors import DataValidationError
from factory.jobs import NothingToDo, promote_job, rate_job, rebalance_job

router = APIRouter()
log = logging.getLogger("factory.api")
_JOB_LOCK = threading.Lock()


class Job(StrEnum):
    rate = "rate"
    promote = "promote"
    rebalance = "rebalance"


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or wrong bearer token"},
    403: {"model": ErrorOut, "description": "disabled: the server has no [api] token"},
}


@router.post(
    "/jobs/{job}",
    response_model=JobOut,
    tags=["jobs"],
    dependencies=[Depends(require_token)],
    responses={
        **AUTH_ERRORS,
        409: {"model": ErrorOut, "description": "the job lacks its inputs (says what to run)"},
    },
    summary="Run a job now (rate, promote or rebalance); needs the bearer token",
)
def run_job(
    request: Request,
    job: Job,
    force: Annotated[
        bool,
        Query(description="rate/rebalance: recompute this time key's result if it exists"),
    ] = False,
) -> JobOut:
    app = factory_app(request)
    client = request.client.host if request.client else "?"
    log.info("POST /jobs/%s (force=%s) from %s", job.value, force, client)
    with _JOB_LOCK:
        try:
            if job is Job.rate:
                r = rate_job(app, force=force)
                return JobOut(
                    job="rate",
                    time_key=r.snapshot.time_key,
                    reused=r.reused,
                    summary=f"{r.snapshot.n_configs} configs rated",
                    snapshot=views.snapshot_out(r.snapshot),
                )
            if job is Job.promote:
                p = promote_job(app)
                cycle = views.cycle(app.db, p.cycle.time_key, include_skipped=False)
                return JobOut(
                    job="promote",
                    time_key=p.cycle.time_key,
                    reused=p.reused,
                    summary=f"{len(p.cycle.active)} active. {p.cycle.note}",
                    cycle=cycle,
                )
            b = rebalance_job(app, force=force)
            return JobOut(
                job="rebalance",
                time_key=b.rebalance.time_key,
                reused=b.reused,
                summary=f"{b.rebalance.n_active} configs voted, gross {b.rebalance.gross:.3f}",
                rebalance=views.rebalance_out(b.rebalance),
            )
        except NothingToDo as exc:
            raise HTTPException(409, str(exc)) from None


def predictor(request: Request) -> Predictor:
    p: Predictor = request.app.state.predictor
    return p


@router.post(
    "/predict",
    response_model=PredictOut,
    tags=["inference"],
    responses={
        400: {"model": ErrorOut, "description": "the body cannot be read (not UTF-8 JSON)"},
        409: {"model": ErrorOut, "description": "nothing to serve (the live set is empty)"},
        422: {"model": UnprocessableOut, "description": "the bars cannot be served (says why)"},
        413: {"model": ErrorOut, "description": "body larger than [api] max_body_bytes"},
    },
    summary="Signals of the live set (and their ensemble) for the last bar of the bars sent",
)
def predict(request: Request, body: PredictRequest) -> PredictOut:
    app = factory_app(request)
    try:
        return predictor(request).predict(body, now=app.now())
    except (PredictError, DataValidationError) as exc:
        raise HTTPException(422, str(exc)) from None
    except NoLiveSet as exc:
        raise HTTPException(409, str(exc)) from None
