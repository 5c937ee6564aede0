"""A real headless browser (Debian's Chromium driven by Playwright; never a downloaded
browser) against a uvicorn server started here: the dashboard shows leaderboard rows
from the database, draws its charts with the locally served plotly.js, logs no console
error, and renders a hostile asset name as text (no dialog fires)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from factory.api import create_app
from factory.leaderboard import leaderboard
from factory.storage import decisions
from tests.api.helpers import HOSTILE_ASSET, Golden, inject_hostile, running_server, serving_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium); "
        "the test never downloads a browser",
    ),
]


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def test_dashboard_in_a_real_browser(
    golden: Golden, workdir: Path, browser: object, tmp_path: Path
) -> None:
    app = serving_app(golden, f"sqlite:///{workdir / 'factory.db'}", workdir)
    cycle = decisions.latest_cycle(app.db)
    assert cycle is not None
    inject_hostile(app.db, cycle.active[0])
    lb = leaderboard(app.db)
    assert lb is not None
    dialogs: list[str] = []
    errors: list[str] = []
    external: list[str] = []
    with running_server(create_app(app)) as url:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.on(
            "request",
            lambda r: external.append(r.url) if not r.url.startswith(url) else None,
        )
        page.goto(url + "/", wait_until="networkidle")
        page.wait_for_selector("#weights-chart .main-svg", timeout=30_000)

        rows = page.locator("#leaderboard tr.lb-row")
        shown = [rows.nth(i).get_attribute("data-config") for i in range(rows.count())]
        assert shown == list(lb.table.index)
        assert page.locator("#leaderboard tr.lb-row td:nth-child(2)").all_inner_texts() == list(
            lb.table.index
        )

        # The hostile asset is text in the weights table and in the chart's tick labels.
        cells = page.locator("#weights td.asset").all_inner_texts()
        assert HOSTILE_ASSET in cells
        ticks = page.locator("#weights-chart .xtick text").all_text_contents()
        assert HOSTILE_ASSET in ticks
        assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0

        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        card = page.goto(f"{url}/ui/configs/{cycle.active[0]}", wait_until="networkidle")
        assert card is not None and card.status == 200
        page.wait_for_selector("#equity-chart .main-svg", timeout=30_000)
        page.close()
    app.close()

    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert dialogs == []
    assert errors == []
    assert external == []  # plotly and everything else from this server
