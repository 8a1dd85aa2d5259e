"""Hostile text in the database (a sensor's name, id and town, an acknowledgement, an assignee, a resolution, the
alert history's actors and comments, a silence's reason and author, a quarantined message:
tests.support.page_seed.seed_hostile) and typed into the silence form, rendered by the real app in headless Chromium
on all five pages: no link to the attacker's site, no image from the beacon host and no request to it, no script run
(no dialog opens), no element created from a payload's tags — in markdown, st.html tiles, Plotly charts and map
tooltips alike; the text itself is on the page, as typed."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from tests.support.app import dashboard
from tests.support.browser import no_traceback
from tests.support.page_seed import FDF_AQ, HOSTILE, seed_alerts, seed_history, seed_hostile, seed_pipeline
from tests.support.services import free_port

pytestmark = pytest.mark.e2e
BEACON = "127.0.0.1:9"
# Elements whose URL-bearing attribute holds a payload's URL: a link or an image that a tag in the text made (SVG
# links drawn by Plotly use xlink:href). Text attributes (aria-label, title) may hold the text itself: not checked.
LIVE_ATTRIBUTES = """() => [...document.querySelectorAll('*')]
    .filter(e => [...e.attributes].some(a => ['href', 'xlink:href', 'src', 'srcset', 'action', 'formaction']
        .includes(a.name) && (a.value.includes('evil.example') || a.value.includes('127.0.0.1:9'))))
    .map(e => e.outerHTML.slice(0, 200))"""
PAGES = [
    ("live", {"range": "1h", "sensor": [FDF_AQ[0], FDF_AQ[1]], "metric": "pm10"}, '[data-testid="stMetric"]'),
    ("trends", {"range": "1h", "sensor": [FDF_AQ[0], FDF_AQ[1]], "metric": "pm10"}, ".js-plotly-plot"),
    ("map", {"range": "1h", "metric": "pm10"}, "canvas"),
    ("sensor", {"range": "1h", "sensor_id": FDF_AQ[0]}, '[data-testid="stDataFrame"]'),
    ("pipeline", {"range": "1h"}, ".js-plotly-plot"),
]


def no_live_markup(page, name: str) -> None:
    no_traceback(page)
    assert page.locator('a[href*="evil.example"]').count() == 0, name
    assert page.evaluate(LIVE_ATTRIBUTES) == [], name  # e.g. an SVG <a xlink:href> drawn by Plotly
    assert page.locator(f'img[src*="{BEACON}"], img[src="x"]').count() == 0, name
    assert page.locator('[data-testid="stMain"] b', has_text="Fort").count() == 0, name
    assert page.locator('[data-testid="stMain"] script:text("alert")').count() == 0, name


def test_hostile_database_text_stays_text_in_the_browser(db_url, conn, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    now = datetime.now(UTC)
    seed_history(db_url, hours=1)
    seed_alerts(conn, FDF_AQ[0])
    seed_pipeline(conn, now)
    seed_hostile(conn, now)
    requested: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with dashboard(db_url, free_port(), logs / "dashboard-hostile-text.log") as url:
        for name, params, ready in PAGES:
            page.goto(f"{url}/{name}?{urlencode(params, doseq=True)}", wait_until="domcontentloaded")
            page.locator(ready).first.wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            if name in ("sensor", "pipeline"):  # the text is there, as typed (a table cell's text is in the grid's
                # accessible DOM, drawn on its canvas: attached, not "visible")
                page.get_by_text("Session expired", exact=False).first.wait_for(state="attached", timeout=30_000)
            if name == "sensor":
                page.get_by_text("Historique des alertes de ce capteur").click()
            if name == "map":  # hover the sensors for their tooltips
                box = page.locator("canvas").first.bounding_box()
                for k in range(12):
                    page.mouse.move(box["x"] + box["width"] * (k + 1) / 13, box["y"] + box["height"] / 2)
            no_live_markup(page, name)
            page.screenshot(path=str(shots / f"hostile-text-{name}.png"))
        # The alert workflow on the Live page (refresh off, so nothing re-renders under the clicks): the history
        # open, a silence set with a hostile reason on the hostile sensor, whose name the confirmation repeats.
        params = {"range": "1h", "sensor": FDF_AQ[0], "refresh": "0"}
        # (the Live page is the default one, at "/": after another page, "/live" opens a "Page not found" dialog)
        page.goto(f"{url}/?{urlencode(params)}", wait_until="domcontentloaded")
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
        page.wait_for_load_state("networkidle")
        page.get_by_role("tab", name="Silences (maintenance)").click()
        page.get_by_role("textbox", name="Motif (obligatoire)").fill(HOSTILE)
        page.locator('[data-testid="stFormSubmitButton"] button', has_text="Mettre en silence").click()
        page.get_by_text("Silence posé sur").wait_for(timeout=30_000)
        page.get_by_text("Historique des alertes").first.click()
        page.wait_for_load_state("networkidle")
        no_live_markup(page, "live actions")
        page.screenshot(path=str(shots / "hostile-text-live-actions.png"))
    assert not dialogs, dialogs
    assert not [u for u in requested if BEACON in u], "the beacon was fetched"
