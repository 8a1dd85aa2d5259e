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
from tests.support.browser import (
    axis_dates,
    full_screenshot,
    metric_value,
    no_raw_labels,
    selected,
    unclipped_at,
    widget,
)
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
        # A fresh server's first run (imports) plus the root's switch to /live: 60 s on 2 shared, loaded cores.
        page.get_by_text("Capteurs en ligne").wait_for(timeout=60_000)
        page.wait_for_url(re.compile(r"/live\?"), timeout=15_000)  # the root opens Live under its own address
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
        for label in ("Lectures/s", "Messages/s"):
            rate = metric_value(page, label)
            assert NUMBER.match(rate) or rate == "—", (label, rate)
        caption = page.get_by_text(re.compile("Mis à jour à")).first.inner_text()
        page.wait_for_function(
            "(before) => ![...document.querySelectorAll('p')].some(p => p.innerText === before)",
            arg=caption,
            timeout=20_000,
        )  # the live fragment refreshed by itself
        page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
        assert "Traceback" not in page.content()
        # Nothing cut in the KPI cards, down to a tablet's width.
        assert unclipped_at(page, (768, 1280, 1920)) == {768: [], 1280: [], 1920: []}
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


def test_shared_url_acknowledge_and_language(pg_cluster, db_url, db_name, conn, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    critical, _ = seed_alerts(conn)
    with live_feed(db_url, hours=1), dashboard(db_url, free_port(), logs / "dashboard-live-ack.log") as url:
        query = urlencode(
            {"commune": "Fort-de-France", "kind": "air_quality", "metric": "pm10", "lw": "5 min", "refresh": "10"}
        )
        page.goto(f"{url}/live?{query}", wait_until="domcontentloaded")
        online = page.locator('[data-testid="stMetric"]', has_text="Capteurs en ligne")
        online.wait_for(timeout=60_000)
        # /live is the Live page itself: no "Page not found" dialog, the navigation marks Live.
        assert page.get_by_role("dialog").count() == 0 and page.get_by_text("Page not found").count() == 0
        assert "/live?" in page.url
        # The shared URL restored every filter.
        assert "Fort-de-France" in widget(page, "stMultiSelect", "Communes", sidebar=True).inner_text()
        assert "Qualité de l'air" in widget(page, "stMultiSelect", "Types de capteur", sidebar=True).inner_text()
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
        assert re.match(r"^\d+,\d$", metric_value(page, "PM10 (µg/m³)")), metric_value(page, "PM10 (µg/m³)")
        latency = page.locator('[data-testid="stMetric"]', has_text="Latence").locator('[data-testid="stMetricValue"]')
        assert re.match(r"^\d+,\d\d s$", latency.inner_text().strip()), latency.inner_text()
        assert page.locator(".mm-tile").count() == len(FDF_AQ)
        page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
        # The fine series is dated: the first tick (and any day change) carries the day and month.
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .xtick text').length > 2")
        assert axis_dates(page, "fr"), page.locator(".js-plotly-plot .xtick text").all_text_contents()
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
        page.get_by_text("1 à acquitter", exact=True).wait_for(timeout=15_000)  # one left: the warning
        full_screenshot(page, shots / "live-ack.png")

        # Language switch: labels change, filters stay.
        page.get_by_text("English").click()
        page.get_by_text("Sensors online").wait_for(timeout=15_000)
        # English names everywhere: the sensor options carry the English kind, never the stored French prefix.
        page.wait_for_function('() => !document.body.innerText.includes("Qualité de l\'air")', timeout=15_000)
        assert axis_dates(page, "en")
        assert "Fort-de-France" in widget(page, "stMultiSelect", "Towns", sidebar=True).inner_text()
        assert "Air quality" in widget(page, "stMultiSelect", "Sensor kinds", sidebar=True).inner_text()
        assert "lang=en" in page.url and "commune=Fort-de-France" in page.url
        no_raw_labels(page)
        full_screenshot(page, shots / "live-filtered-en.png")
