"""``factory serve``: the HTTP API and dashboard (FastAPI on uvicorn)."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from factory.cli.output import err_console


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            help="interface to bind (default: settings api.host = 127.0.0.1, this machine only)"
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="port (default: settings api.port = 8000)")
    ] = None,
) -> None:
    """Serve the JSON API, the dashboard and POST /predict (Ctrl-C stops)."""
    import uvicorn

    from factory.api import create_app
    from factory.cli import make_app

    a = make_app(ctx, **{"api.host": host, "api.port": port})
    s = a.settings.api
    api = create_app(a)
    jobs = "on (bearer token)" if s.token else "off (no [api] token)"
    err_console.print(
        f"factory serve: http://{s.host}:{s.port}/ (API reference /docs) on {a.db.describe()}; "
        f"job endpoints {jobs}"
    )
    # Everything imported so far (torch, pandas, the zoo: ~390,000 objects) lives as long
    # as the server: move it out of the collector's reach. A full collection over it took
    # 0.1-0.45 s on a 2-core machine, a pause that every request in flight would wait for
    # (it was the p99 of bench/api.py); after gc.freeze() it takes well under 1 ms.
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(api, host=s.host, port=s.port, log_level="info", access_log=False)
    finally:
        a.close()
