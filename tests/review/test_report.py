"""`factory report`: one self-contained, escaped HTML file built from the database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from factory.app import App
from factory.cli import app as cli
from factory.leaderboard import leaderboard
from factory.review.report import write_report
from tests.api.helpers import HOSTILE_ARCH, HOSTILE_ASSET, HOSTILE_FEATURE

CHROMIUM = Path("/usr/bin/chromium")


def _body(text: str) -> str:
    """The document after the inlined plotly.js."""
    return text[text.index("</head>") :]


def test_the_report_is_self_contained_escaped_and_from_the_database(
    reviewed: App, tmp_path: Path
) -> None:
    path = write_report(reviewed, tmp_path / "r" / "report.html")
    text = path.read_text(encoding="utf-8")
    # Self-contained: plotly.js inlined, nothing fetched from anywhere.
    assert "Plotly" in text[: text.index("</head>")]
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert not re.search(r"<(img|iframe)[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", text, re.I)
    # Hostile names are text, never markup.
    for hostile in (HOSTILE_ASSET, HOSTILE_FEATURE, HOSTILE_ARCH):
        assert hostile not in text
    body = _body(text)
    assert str(escape(HOSTILE_ASSET)) in body  # the weights table
    assert str(escape(HOSTILE_FEATURE)) in body  # the model card's features
    assert str(escape(HOSTILE_ARCH)) in body  # the leaderboard and the card
    # The leaderboard rows are the latest snapshot's, in rank order, with DSR and gate.
    lb = leaderboard(reviewed.db)
    assert lb is not None
    table = body[
        body.index('id="leaderboard-table"') : body.index(
            "</table>", body.index('id="leaderboard-table"')
        )
    ]
    shown = re.findall(r'<tr class="[^"]*"><td>\d+</td><td class="text">([0-9a-f]+)</td>', table)
    assert shown == list(lb.table.index)
    assert "<th>dsr</th>" in table and ">eligible<" in table and ">gate<" in table
    # The simulation ran on the same database: every strategy has a row.
    strategies = body[body.index('id="strategies-table"') :]
    for name in (
        "factory",
        "equal_weight_all",
        "best_static",
        "naive_top_k",
        "random_k",
        "buy_and_hold",
    ):
        assert f'<td class="text">{name}' in strategies
    # One model card per config, with its artifact checksums.
    for cid in lb.table.index:
        assert f'id="card-{cid}"' in body
    assert re.search(r"<code>[0-9a-f]{64}</code>", body)
    assert "Promotion timeline" in body and "promoted" in body
    # The live book's record: the fixture rebalanced, so the book has its first bar.
    from factory.storage.live_book import load_book_returns

    booked = load_book_returns(reviewed.db)
    assert len(booked) >= 1
    record = body[body.index('id="live-book"') :]
    assert f"{len(booked)} bars from {booked['bar_ts'].iloc[0]:%Y-%m-%d}" in record


def test_report_command_writes_to_the_output_dir(reviewed: App, tmp_path: Path) -> None:
    toml = tmp_path / "factory.toml"
    s = reviewed.settings
    toml.write_text(
        f'db_url = "{s.db_url}"\nartifacts = "{s.artifacts}"\noutput_dir = "{tmp_path / "out"}"\n'
        "[rating]\nmin_track_record = 60\nmin_active = 1\ntop_k = 3\nmax_active = 4\n"
    )
    res = CliRunner().invoke(cli, ["--config", str(toml), "report"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "report.html").exists()
    assert str(tmp_path / "out" / "report.html") in res.stdout.replace("\n", "")


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium; the test never downloads a browser",
)
def test_the_report_opens_in_a_browser_without_errors_or_network(
    reviewed: App, tmp_path: Path
) -> None:
    from playwright.sync_api import Dialog, sync_playwright

    path = write_report(reviewed, tmp_path / "report.html")
    errors: list[str] = []
    dialogs: list[str] = []
    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu"],
            headless=True,
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def dismiss(d: Dialog) -> None:
            dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dismiss)
        page.on(
            "request",
            lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
        )
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_selector("[data-figure] .main-svg", timeout=30_000)
        charts = page.locator("[data-figure]").count()
        drawn = page.locator("[data-figure] .main-svg").count()
        cells = page.locator("#weights-table td.asset").all_inner_texts()
        browser.close()
    assert errors == [] and dialogs == [] and external == []
    assert charts >= 5 and drawn >= charts
    assert HOSTILE_ASSET in cells
