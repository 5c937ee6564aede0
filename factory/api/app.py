"""`create_app`: the FastAPI application of ``factory serve`` over one `factory.app.App`.

JSON endpoints (`factory.api.routes`, `factory.api.actions`), the dashboard's HTML pages
(`factory.api.dashboard`) and the API reference at ``/docs`` (rendered on the server from
the OpenAPI document at ``/openapi.json``; no script from a CDN). The database is opened
(and migrated) when the app is created, so a wrong URL fails at start, not at the first
request.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from factory.api import actions, dashboard, routes
from factory.api.cache import VersionedCache
from factory.api.inference import Predictor
from factory.api.security import BodyLimit
from factory.app import App
from factory.storage.database import DatabaseError

DESCRIPTION = """Read-only views of the factory (health, leaderboard, configs and model cards,
live set, promotion cycles, rebalances, signals, runs), online inference (`POST /predict`)
and jobs on demand (`POST /jobs/{job}`, bearer token). Times are naive UTC; undefined
numbers are null. See docs/user-guide.md, section "factory serve"."""


def create_app(app: App) -> FastAPI:
    """The API and dashboard for ``app`` (its settings' ``[api]`` section applies)."""
    settings = app.settings.api
    _ = app.db  # open and migrate now: a bad URL fails at start
    api = FastAPI(
        title="Model Factory",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    api.state.factory = app
    api.state.token = settings.token
    api.state.refresh_seconds = settings.refresh_seconds
    api.state.predictor = Predictor(app.db, app.store)
    api.state.cache = VersionedCache()
    api.include_router(routes.router)
    api.include_router(actions.router)
    api.include_router(dashboard.router)
    dashboard.mount_static(api)

    @api.exception_handler(SQLAlchemyError)
    @api.exception_handler(DatabaseError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return JSONResponse({"detail": f"database unavailable: {message}"}, status_code=503)

    api.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    api.add_middleware(SecurityHeaders)
    return api


class SecurityHeaders:
    """``nosniff`` and no referrer on every response; HTML pages also get a content
    security policy that allows scripts and data only from this server (inline styles
    are allowed: plotly sets them)."""

    CSP = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                ctype = next((v for k, v in headers if k == b"content-type"), b"")
                if ctype.startswith(b"text/html"):
                    headers.append((b"content-security-policy", self.CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
