"""The real app on the project's PostgreSQL with live ingestion, in headless Chromium."""

import re

import pytest

from tests.support.app import dashboard, ingestion
from tests.support.services import free_port

pytestmark = pytest.mark.e2e
NUMBER = re.compile(r"^-?[\d\u202f\u00a0 ]+(,\d+)?( / \d+)?$")


def test_live_page_shows_kpis_with_numbers_that_change(pg_cluster, db_url, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    with (
        ingestion(db_url, logs / "ingestion-live.log", "run", "--backfill", "1h", "--report-every", "5"),
        dashboard(db_url, free_port(), logs / "dashboard-live.log") as url,
    ):
        page.goto(f"{url}/?refresh=5", wait_until="domcontentloaded")
        page.get_by_text("Capteurs en ligne").wait_for(timeout=30_000)
        metrics = page.locator('[data-testid="stMetric"]')
        metrics.first.wait_for(timeout=30_000)

        def online_count() -> int:
            card = page.locator('[data-testid="stMetric"]', has_text="Capteurs en ligne")
            value = card.locator('[data-testid="stMetricValue"]').inner_text().strip()
            assert NUMBER.match(value), value
            return int(value.split("/")[0].strip())

        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                     .some(m => m.innerText.includes('Capteurs en ligne') && !/^\\s*0 \\//m.test(
                         m.querySelector('[data-testid="stMetricValue"]').innerText))""",
            timeout=45_000,
        )
        assert online_count() > 0
        rate_card = page.locator('[data-testid="stMetric"]', has_text="Messages/s")
        first_rate = rate_card.locator('[data-testid="stMetricValue"]').inner_text()
        assert NUMBER.match(first_rate.strip()), first_rate
        caption = page.get_by_text(re.compile("Mis à jour à")).first.inner_text()
        page.wait_for_function(
            "(before) => ![...document.querySelectorAll('p')].some(p => p.innerText === before)",
            arg=caption,
            timeout=20_000,
        )  # the live fragment refreshed by itself
        page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
        assert "Traceback" not in page.content()
        page.screenshot(path=str(output_dir / "screenshots" / "live.png"), full_page=True)

        page.get_by_text("English").click()
        page.get_by_text("Sensors online").wait_for(timeout=15_000)
        page.screenshot(path=str(output_dir / "screenshots" / "live-en.png"), full_page=True)


def test_unreachable_database_shows_a_banner_not_a_traceback(output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/madinina"
    with dashboard(dead, free_port(), logs / "dashboard-down.log") as url:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("Base de données injoignable").wait_for(timeout=30_000)
        assert "Traceback" not in page.content()
        page.screenshot(path=str(output_dir / "screenshots" / "live-db-down.png"), full_page=True)
