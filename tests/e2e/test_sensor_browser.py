"""The Sensor page of the real app in headless Chromium, on a database seeded with the simulator's history: a shared
URL (sensor, range, gap threshold) reopens the same view with real numbers (latest values, battery slope and
depletion date, data quality), the language switch translates it, picking another sensor updates the URL, and the
alert history of a sensor with alerts is listed."""

import re
import time
from urllib.parse import urlencode

import psycopg2
import pytest

from ingestion.catalogue import SENSORS
from tests.support.app import dashboard
from tests.support.browser import (
    axis_dates,
    full_screenshot,
    metric_value,
    no_raw_labels,
    no_traceback,
    table_cells,
    unclipped_at,
    widget,
)
from tests.support.page_seed import FDF_AQ, FDF_WX, seed_alerts, seed_history, shown_name
from tests.support.services import free_port

pytestmark = pytest.mark.e2e
SENSOR = {s.sensor_id: s for s in SENSORS}


MOMENT = re.compile(r"^\d\d/\d\d(/\d{4}| \d\d:\d\d)$")  # a date, or day/month and time when near


def test_sensor_shared_url_numbers_language_and_alerts(pg_cluster, db_url, conn, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    seed_history(db_url, hours=8)
    seed_alerts(conn, FDF_AQ[0])
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT value FROM sensor_latest WHERE sensor_id = %s AND metric = 'temperature'", (FDF_WX,))
        temperature = cur.fetchone()[0]
    wx = SENSOR[FDF_WX]
    with dashboard(db_url, free_port(), logs / "dashboard-sensor.log") as url:
        started = time.monotonic()
        page.goto(f"{url}/sensor?{urlencode({'sensor_id': FDF_WX, 'range': '6h', 'gap': '300'})}")
        page.get_by_role("heading", name=shown_name(wx, "fr")).wait_for(timeout=30_000)
        to_content = time.monotonic() - started
        # The shared URL restored the sensor, the range and the gap threshold.
        shown = widget(page, "stSelectbox", "Capteur affiché").locator("input").input_value()
        assert shown == f"{shown_name(wx, 'fr')} ({FDF_WX})"
        assert widget(page, "stSelectbox", "Période", sidebar=True).locator("input").input_value() == (
            "6 dernières heures"
        )
        assert widget(page, "stSelectbox", "Seuil de trou").locator("input").input_value().startswith("300 ×")
        page.get_by_text(re.compile(r"Pas des données enregistrées sur la période : 1\smin")).wait_for(timeout=30_000)
        # Real numbers: freshness, the latest temperature, the battery trend.
        assert metric_value(page, "Intervalle attendu") == "1\u202fs"  # CLDR: narrow no-break space
        assert MOMENT.match(metric_value(page, "Dernière lecture"))
        assert f"{temperature:.2f} °C".replace(".", ",") in table_cells(page, 0)  # latest value of each metric
        slope = metric_value(page, "Pente (points/jour)")
        assert re.match(r"^-\d+,\d\d$", slope), slope
        assert MOMENT.match(metric_value(page, "Épuisement (0 %) vers"))
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
        page.get_by_text("Qualité des données").wait_for()
        # 6 hours: the series are dated; nothing cut in the cards at either width.
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .xtick text').length > 2")
        assert axis_dates(page, "fr"), page.locator(".js-plotly-plot .xtick text").all_text_contents()
        assert unclipped_at(page) == {1280: [], 1920: []}
        no_traceback(page)
        no_raw_labels(page)
        print(f"sensor: content after {to_content:.1f} s, checks done after {time.monotonic() - started:.1f} s")
        full_screenshot(page, shots / "sensor.png")

        page.get_by_text("English").click()
        page.get_by_text("Data freshness").wait_for(timeout=20_000)
        page.get_by_role("heading", name=shown_name(wx, "en")).wait_for()  # the kind in English
        assert re.match(r"^-\d+\.\d\d$", metric_value(page, "Slope (points/day)"))
        assert widget(page, "stSelectbox", "Gap threshold").locator("input").input_value().startswith("300 ×")
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
        no_raw_labels(page)
        full_screenshot(page, shots / "sensor-en.png")

        # Another sensor picked on the page: the URL follows; its alert history is listed.
        aq = SENSOR[FDF_AQ[0]]
        widget(page, "stSelectbox", "Sensor shown").click()
        page.keyboard.type(FDF_AQ[0])
        page.get_by_role("option", name=f"{shown_name(aq, 'en')} ({FDF_AQ[0]})").click()
        page.get_by_role("heading", name=shown_name(aq, "en")).wait_for(timeout=20_000)
        page.wait_for_function(f"() => location.search.includes('sensor_id={FDF_AQ[0]}')", timeout=10_000)
        page.get_by_text("3 alerts (2 open), most recent first.").wait_for(timeout=20_000)
        assert metric_value(page, "Open alerts") == "2"
        page.get_by_text("This sensor reports no battery (mains powered).").wait_for()
        no_traceback(page)
        no_raw_labels(page)
        full_screenshot(page, shots / "sensor-alerts-en.png")
        assert to_content < 60  # 30 s on an idle machine; others share these 2 cores
