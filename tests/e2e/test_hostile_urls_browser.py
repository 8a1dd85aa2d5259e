"""The crafted URLs of issue 9, opened in headless Chromium against the real app: no traceback, no exception box, a
plain-text notice naming the ignored parameters; the markdown-injection payload of the Sensor page shows as text —
no link to the attacker's page, no image fetched from the beacon host (the browser's requests are watched)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.support.app import dashboard
from tests.support.browser import no_traceback
from tests.support.page_seed import seed_history
from tests.support.services import free_port

pytestmark = pytest.mark.e2e
NOTICE = "Paramètre d'adresse ignoré"
LINK = "[Session expired – click here](https://evil.example/login)"
BEACON_PORT = free_port()
IMAGE = f"![x](http://127.0.0.1:{BEACON_PORT}/beacon.png)"
CRAFTED = [
    ("live", {"range": "custom", "from": "9999-12-31T20:00", "to": "9999-12-31T23:00"}, ("from", "to")),
    ("trends", {"range": "custom", "from": "0001-01-01T00:00", "to": "2026-01-01T00:00"}, ("from",)),
    ("map", {"mframe": "9999-12-31T23:59"}, ("mframe",)),
    ("sensor", {"gap": "9" * 5000}, ("gap",)),
]


def test_crafted_urls_show_a_notice_and_text_never_becomes_markup(db_url, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    seed_history(db_url, hours=1)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    with dashboard(db_url, free_port(), logs / "dashboard-hostile.log") as url:
        for path, params, names in CRAFTED:
            page.goto(f"{url}/{path}?{urlencode(params)}", wait_until="domcontentloaded")
            notice = page.locator('[data-testid="stAlertContentWarning"]', has_text=NOTICE).first
            notice.wait_for(timeout=60_000)
            text = notice.inner_text()
            assert all(f"« {name} »" in text for name in names), text
            no_traceback(page)
            assert 'File "' not in page.inner_text("body")
        page.screenshot(path=str(shots / "hostile-url-notice.png"), full_page=True)

        page.goto(f"{url}/sensor?{urlencode({'sensor_id': LINK + ' ' + IMAGE})}", wait_until="domcontentloaded")
        warning = page.locator('[data-testid="stAlertContentWarning"]', has_text="Capteur inconnu").first
        warning.wait_for(timeout=60_000)
        page.get_by_text("Dernière valeur de chaque mesure").wait_for(timeout=60_000)  # the page went on
        shown = warning.inner_text().replace("\u2060", "")  # the invisible word joiner that defeats autolinking
        assert "[Session expired – click here](https://evil.example/login)" in shown  # as typed, as text
        assert warning.locator("a").count() == 0 and warning.locator("img").count() == 0
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert page.locator(f'img[src*="{BEACON_PORT}"]').count() == 0
        no_traceback(page)
        page.screenshot(path=str(shots / "hostile-sensor-id.png"))
    assert not [u for u in requested if f":{BEACON_PORT}/" in u], "the beacon was fetched"
