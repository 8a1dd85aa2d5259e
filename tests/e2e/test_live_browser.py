"""The real app on the project's PostgreSQL with live ingestion, in headless Chromium."""

import re
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest

from ingestion.catalogue import SENSORS
from ingestion.simulator import Simulator
from ingestion.writer import BatchTimings, Writer
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


# -- shared URL, acknowledgement, language: seeded with the simulator's history plus a live feed ------------------
FDF_AQ = [s.sensor_id for s in SENSORS if s.commune == "Fort-de-France" and s.kind == "air_quality"]


@contextmanager
def live_feed(db_url: str, *, hours: float, seed: int = 11):
    """`hours` of simulated history (one reading a minute), then every second the current readings of all
    sensors (with pipeline timings) until the block ends."""
    sim = Simulator(seed=seed)
    now = time.time()
    with Writer(db_url) as writer:
        for batch in sim.history(now - hours * 3600, now - 2, step_s=60):
            writer.write(batch)
    stop = threading.Event()

    def feed():
        with Writer(db_url) as writer:
            while not stop.is_set():
                t = time.time()
                for batch in sim.history(t - 1, t, step_s=1):
                    writer.write(batch, timings=BatchTimings(source=t - 0.3, received=t - 0.05))
                stop.wait(1.0)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def seed_alerts(conn) -> list[int]:
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, value, threshold, message)
               VALUES (%s, 'pm10', 'threshold', 'critical', now() - interval '12 minutes', 92.5, 80,
                       'PM10 au-dessus du seuil d''alerte'),
                      (%s, 'no2', 'threshold', 'warning', now() - interval '95 minutes', 212, 200,
                       'NO2 au-dessus du seuil d''information')
               RETURNING alert_id""",
            (FDF_AQ[0], FDF_AQ[1]),
        )
        return [r[0] for r in cur.fetchall()]


RAW_KEY = re.compile(
    r"\b(?:trends|alerts|live|csv|actions|silence|events|sidebar|severity|age|window|kind|status|source|col|page)"
    r"\.[a-z_]+"
)


def no_raw_labels(page) -> None:
    """Every label is translated: a missing i18n key would show itself as 'section.name'."""
    text = page.inner_text("body") + " ".join(page.locator("svg text").all_text_contents())
    assert not RAW_KEY.search(text), RAW_KEY.search(text).group(0)


def full_screenshot(page, path) -> None:
    """Streamlit scrolls inside its main container: grow the viewport to the content for a whole-page picture."""
    height = page.evaluate(
        """() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], section.main, .main')]
                 .map(e => e.scrollHeight), document.body.scrollHeight)"""
    )
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def sidebar_widget(page, testid: str, label: str):
    return page.locator(f'[data-testid="stSidebar"] [data-testid="{testid}"]', has_text=label)


def selected(page, label: str) -> str:
    """The shown value of a sidebar selectbox."""
    return sidebar_widget(page, "stSelectbox", label).locator("input").input_value()


def test_shared_url_acknowledge_and_language(pg_cluster, db_url, db_name, conn, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    critical, _ = seed_alerts(conn)
    with live_feed(db_url, hours=1), dashboard(db_url, free_port(), logs / "dashboard-live-ack.log") as url:
        started = time.monotonic()
        query = urlencode(
            {"commune": "Fort-de-France", "kind": "air_quality", "metric": "pm10", "lw": "5 min", "refresh": "10"}
        )
        page.goto(f"{url}/live?{query}", wait_until="domcontentloaded")
        online = page.locator('[data-testid="stMetric"]', has_text="Capteurs en ligne")
        online.wait_for(timeout=30_000)
        # The shared URL restored every filter.
        assert "Fort-de-France" in sidebar_widget(page, "stMultiSelect", "Communes").inner_text()
        assert "Qualité de l'air" in sidebar_widget(page, "stMultiSelect", "Types de capteur").inner_text()
        assert selected(page, "Mesure") == "PM10 (particules) (µg/m³)"
        assert selected(page, "Rafraîchissement") == "10 s"
        page.get_by_text(f"{len(FDF_AQ)} capteurs suivis").wait_for(timeout=10_000)
        page.wait_for_function(
            """(n) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
                 m.innerText.includes('Capteurs en ligne') && m.innerText.includes(n + ' / ' + n))""",
            arg=len(FDF_AQ),
            timeout=20_000,
        )
        for label, value in (("Alertes ouvertes", "2"), ("Critiques", "1"), ("Avertissements", "1")):
            card = page.locator('[data-testid="stMetric"]', has_text=label)
            assert card.locator('[data-testid="stMetricValue"]').inner_text().strip() == value
        pm10 = page.locator('[data-testid="stMetric"]', has_text="PM10").first
        assert re.match(r"^\d+,\d µg/m³$", pm10.locator('[data-testid="stMetricValue"]').inner_text().strip())
        latency = page.locator('[data-testid="stMetric"]', has_text="Latence").locator('[data-testid="stMetricValue"]')
        assert re.match(r"^\d+,\d\d s$", latency.inner_text().strip()), latency.inner_text()
        assert page.locator(".mm-tile").count() == len(FDF_AQ)
        page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
        assert "Traceback" not in page.content()
        no_raw_labels(page)
        full_screenshot(page, shots / "live-filtered.png")

        # Acknowledge the critical alert with a comment, as the current actor (the demo operator, said to be
        # unauthenticated next to the form): persisted in the database and its history, shown in the feed.
        page.get_by_text("Actions non authentifiées").wait_for(timeout=10_000)
        assert page.get_by_role("textbox", name="Votre nom").count() == 0
        page.get_by_role("textbox", name="Commentaire (facultatif)").fill("Capteur vérifié sur place")
        submit = page.locator('[data-testid="stFormSubmitButton"] button')
        submit.filter(has_text="Acquitter").click()
        page.get_by_text(f"Alerte n° {critical} acquittée par demo").wait_for(timeout=20_000)
        with conn.cursor() as cur:
            cur.execute("SELECT acknowledged_by, ack_comment FROM alerts WHERE alert_id = %s", (critical,))
            assert cur.fetchone() == ("demo", "Capteur vérifié sur place")
        page.get_by_text("non acquittées : 1").wait_for(timeout=15_000)  # one left: the warning
        full_screenshot(page, shots / "live-ack.png")

        # Language switch: labels change, filters stay.
        page.get_by_text("English").click()
        page.get_by_text("Sensors online").wait_for(timeout=15_000)
        assert "Fort-de-France" in sidebar_widget(page, "stMultiSelect", "Towns").inner_text()
        assert "Air quality" in sidebar_widget(page, "stMultiSelect", "Sensor kinds").inner_text()
        assert "lang=en" in page.url and "commune=Fort-de-France" in page.url
        no_raw_labels(page)
        full_screenshot(page, shots / "live-filtered-en.png")
        assert time.monotonic() - started < 60
