"""The dashboard pages: rows from the database, local plotly, auto-refresh, a strict
content security policy, and user-supplied strings escaped everywhere."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from factory.api import create_app
from factory.app import App
from factory.leaderboard import leaderboard
from factory.storage import decisions
from tests.api.helpers import (
    HOSTILE_ARCH,
    HOSTILE_ASSET,
    HOSTILE_FEATURE,
    Golden,
    inject_hostile,
    serving_app,
)


def test_overview_shows_the_database(client: TestClient, served: App) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    lb = leaderboard(served.db)
    assert lb is not None
    rows = re.findall(r'<tr class="lb-row[^"]*" data-config="([0-9a-f]+)"', page)
    assert rows == list(lb.table.index)
    reb = decisions.latest_rebalance(served.db)
    assert reb is not None and reb.time_key in page
    for asset in reb.weights:
        assert f'<td class="asset">{asset}</td>' in page
    for cid in lb.active:
        assert f'href="/ui/configs/{cid}"' in page
    # Charts: data in attributes, drawn by the local script; plotly from this server.
    assert page.count('data-figure="') == 2  # weights and live-set equity
    assert '<script src="/static/plotly.min.js"' in page
    assert "cdn" not in page.lower()
    assert "<script>" not in page  # no inline scripts at all
    assert f'<meta http-equiv="refresh" content="{served.settings.api.refresh_seconds}">' in page
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_refresh_can_be_turned_off(golden: Golden, db_url: str, workdir: Path) -> None:
    app = serving_app(golden, db_url, workdir, **{"api.refresh_seconds": 0})
    with TestClient(create_app(app)) as c:
        assert 'http-equiv="refresh"' not in c.get("/").text
    app.close()


def test_plotly_is_served_from_the_installed_package(client: TestClient) -> None:
    from plotly.offline import get_plotlyjs

    r = client.get("/static/plotly.min.js")
    assert r.status_code == 200 and r.text == get_plotlyjs()
    assert r.headers["content-type"].startswith("application/javascript")
    again = client.get("/static/plotly.min.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/dashboard.css").status_code == 200


def test_pages(client: TestClient, served: App) -> None:
    cycle = decisions.latest_cycle(served.db)
    assert cycle is not None
    page = client.get("/ui/leaderboard").text
    assert len(re.findall(r'<tr class="lb-row', page)) == 3
    promotions = client.get("/ui/promotions").text
    assert cycle.time_key in promotions
    for row in decisions.cycle_decisions(served.db, cycle.id).itertuples():
        if row.action != "skipped":
            assert html.escape(row.reason, quote=False) in promotions
    cid = cycle.active[0]
    card = client.get(f"/ui/configs/{cid}")
    assert card.status_code == 200
    features = client.get(f"/configs/{cid}").json()["features"]
    assert all(f"<code>{f}</code>" in card.text for f in features)
    assert card.text.count('data-figure="') == 2  # equity and drawdown
    missing = client.get("/ui/configs/nope")
    assert missing.status_code == 404 and "no config &#39;nope&#39;" in missing.text


def test_docs_page_lists_every_operation_without_external_scripts(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    page = client.get("/docs").text
    for path, item in spec["paths"].items():
        for method in item:
            assert f"<code>{method.upper()} {html.escape(path)}</code>" in page
    assert "<script" not in page


def test_user_supplied_strings_are_escaped(client: TestClient, served: App) -> None:
    cid = decisions.latest_cycle(served.db).active[0]  # type: ignore[union-attr]
    inject_hostile(served.db, cid)
    pages = {
        "/": client.get("/").text,
        "/ui/leaderboard": client.get("/ui/leaderboard").text,
        f"/ui/configs/{cid}": client.get(f"/ui/configs/{cid}").text,
    }
    for raw in (HOSTILE_ASSET, HOSTILE_FEATURE, HOSTILE_ARCH):
        for path, page in pages.items():
            assert raw not in page, (raw, path)
    assert str(escape(HOSTILE_ASSET)) in pages["/"]
    assert str(escape(HOSTILE_ARCH)) in pages["/ui/leaderboard"]
    assert str(escape(HOSTILE_FEATURE)) in pages[f"/ui/configs/{cid}"]
    # The chart's data attribute decodes to a figure whose labels are entity-escaped
    # for plotly (which would otherwise read tags in them).
    attr = re.search(r'id="weights-chart" data-figure="([^"]*)"', pages["/"])
    assert attr is not None
    figure = json.loads(html.unescape(attr.group(1)))
    assert html.escape(HOSTILE_ASSET, quote=False) in figure["data"][0]["x"]
    assert HOSTILE_ASSET not in json.dumps(figure)
    # JSON endpoints return the stored strings as data, unchanged.
    assert HOSTILE_ASSET in client.get("/rebalance/latest").json()["weights"]


@pytest.mark.parametrize("path", ["/", "/ui/leaderboard", "/ui/promotions"])
def test_pages_render_on_an_empty_database(workdir: Path, db_url: str, path: str) -> None:
    from tests.factory.helpers import make_test_app

    app = make_test_app(workdir, db_url)
    with TestClient(create_app(app)) as c:
        r = c.get(path)
        assert r.status_code == 200 and "Model Factory" in r.text
    app.close()
