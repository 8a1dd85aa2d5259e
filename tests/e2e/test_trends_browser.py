"""The Trends page of the real app in headless Chromium, on a database seeded with the simulator's history: a shared
URL restores the view, the page names its source and window and shows real numbers, the CSV download equals a
direct SQL query of the same window and filters, the language switch translates the page."""

import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse

import pandas as pd
import psycopg2
import pytest
from playwright.sync_api import expect

from components.csv_export import read_export
from ingestion.catalogue import SENSORS
from ingestion.simulator import Simulator
from ingestion.writer import Writer
from tests.support.app import dashboard
from tests.support.browser import axis_dates, full_screenshot, no_raw_labels, unclipped_at, widget
from tests.support.services import free_port

pytestmark = pytest.mark.e2e
FDF_AQ = [s.sensor_id for s in SENSORS if s.commune == "Fort-de-France" and s.kind == "air_quality"]


def seed(db_url: str, conn, *, hours: float = 13, seed: int = 5) -> None:
    """`hours` of simulated history (a reading a minute, all sensors) and a few alerts over the last hours."""
    now = time.time()
    with Writer(db_url) as writer:
        for batch in Simulator(seed=seed).history(now - hours * 3600, now - 1, step_s=60):
            writer.write(batch)
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, closed_at, value, threshold, message)
               VALUES (%s, 'pm10', 'threshold', 'critical', now() - interval '40 minutes', NULL, 91, 80, 'PM10'),
                      (%s, 'pm10', 'threshold', 'warning', now() - interval '3 hours', now() - interval '2 hours',
                       55, 50, 'PM10'),
                      (%s, 'no2', 'threshold', 'warning', now() - interval '5 hours', NULL, 230, 200, 'NO2'),
                      (%s, NULL, 'offline', 'warning', now() - interval '2 hours', NULL, NULL, NULL, 'muet')""",
            (FDF_AQ[0], FDF_AQ[1], FDF_AQ[2], FDF_AQ[3]),
        )


def sql_windows(db_url: str, start, end) -> list[tuple]:
    """What the export must contain, straight from sensor_data_agg: 15-minute buckets (aligned on Martinique
    midnight) re-aggregated from the 1-minute windows, for the Fort-de-France air-quality sensors, pm10 and no2."""
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT a.metric, a.sensor_id,
                      date_bin('15 minutes', a.window_start, timestamptz '2000-01-01 04:00+00') AS t,
                      sum(a.sum_value) / sum(a.count), min(a.min), max(a.max), sum(a.count)
                 FROM sensor_data_agg a JOIN sensors s USING (sensor_id)
                WHERE s.commune = 'Fort-de-France' AND s.kind = 'air_quality' AND a.metric IN ('pm10', 'no2')
                  AND a.window_end - a.window_start = interval '1 minute'
                  AND a.window_start >= %s AND a.window_start < %s
                GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
            (start, end),
        )
        return cur.fetchall()


def test_trends_shared_url_csv_and_language(pg_cluster, db_url, conn, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    seed(db_url, conn)
    with dashboard(db_url, free_port(), logs / "dashboard-trends.log") as url:
        query = urlencode(
            {
                "range": "6h",
                "commune": "Fort-de-France",
                "kind": "air_quality",
                "metric": "pm10",
                "window": "15min",
                "vars": ["pm10", "no2", "o3"],
                "cmp": "overlay",
            },
            doseq=True,
        )
        page.goto(f"{url}/trends?{query}", wait_until="domcontentloaded")
        page.get_by_text("Évolution des variables clés").wait_for(timeout=30_000)
        # The shared URL restored the sidebar filters and the page's own controls.
        assert "Fort-de-France" in widget(page, "stMultiSelect", "Communes", sidebar=True).inner_text()
        assert "Qualité de l'air" in widget(page, "stMultiSelect", "Types de capteur", sidebar=True).inner_text()
        assert widget(page, "stSelectbox", "Période", sidebar=True).locator("input").input_value() == (
            "6 dernières heures"
        )
        assert widget(page, "stSelectbox", "Fenêtre").locator("input").input_value() == "15 min"
        chips = widget(page, "stMultiSelect", "Variables clés").inner_text()
        assert "PM10" in chips and "NO₂" in chips and "O₃" in chips
        # The page names its source and window.
        source = page.get_by_text("Source :").first.inner_text()
        assert "sensor_data_agg" in source and "15 min" in source and "1 min" in source
        page.get_by_text("Corrélation entre variables").wait_for()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 7", timeout=30_000)
        for label in ("Cette période (µg/m³)", "Période précédente (µg/m³)", "Écart (µg/m³)"):
            value = page.locator('[data-testid="stMetric"]', has_text=label).first.locator(
                '[data-testid="stMetricValue"]'
            )
            assert re.match(r"^[+−±]?[\d\u202f]+,\d$", value.inner_text().strip()), value.inner_text()
        page.get_by_text("4 alertes ouvertes sur la période").wait_for()
        assert "Traceback" not in page.content()
        no_raw_labels(page)
        # 6 hours within a day: hours on the ticks, and the date where the axis starts.
        assert axis_dates(page, "fr"), page.locator(".js-plotly-plot .xtick text").all_text_contents()
        # The town names of the alert distribution are whole (horizontal bars), the cards not cut.
        towns = page.locator(".js-plotly-plot .ytick text").all_text_contents()
        assert "Fort-de-France" in towns, towns
        assert unclipped_at(page) == {1280: [], 1920: []}
        full_screenshot(page, shots / "trends.png")

        # CSV: generated only on click, then downloaded; its rows are the windows of a direct SQL query.
        assert page.get_by_role("button", name="Télécharger le CSV").count() == 0
        page.get_by_role("button", name="Préparer l'export CSV").click()
        download_button = page.get_by_role("button", name="Télécharger le CSV")
        download_button.wait_for(timeout=20_000)
        with page.expect_download(timeout=20_000) as info:
            download_button.click()
        download = info.value
        assert download.suggested_filename.endswith(".csv")
        header, data = read_export(Path(download.path()).read_bytes())
        assert header["window"] == "900 s (15 min)"
        assert header["communes"] == "Fort-de-France" and header["kinds"] == "air_quality"
        assert header["metrics"] == "pm10|no2|o3"
        start_iso, end_iso = header["range"].split(" [")[0].split(" / ")
        assert start_iso.endswith("-04:00") and end_iso.endswith("-04:00")
        expected = sql_windows(db_url, pd.Timestamp(start_iso).to_pydatetime(), pd.Timestamp(end_iso).to_pydatetime())
        shown = data[data["metric"].isin(["pm10", "no2"])].sort_values(["metric", "sensor_id", "window_start"])
        assert len(shown) == len(expected) >= 4 * 2 * 24
        for row, (metric, sensor, t, mean, lo, hi, n) in zip(shown.itertuples(), expected, strict=True):
            assert (row.metric, row.sensor_id, pd.Timestamp(row.window_start), row.count) == (
                metric,
                sensor,
                pd.Timestamp(t),
                n,
            )
            assert (row.mean, row.min, row.max) == pytest.approx((mean, lo, hi), rel=1e-12)
        assert set(data["sensor_id"]) == set(FDF_AQ) and data["window_start"].str.endswith("-04:00").all()
        assert (pd.to_datetime(data["window_end"]) <= pd.Timestamp(end_iso)).all()  # no window past the end

        # Box-zoom: a box drawn across the middle of the evolution chart makes its span the page range (custom, in the
        # URL), and every section follows.
        plot = page.locator(".js-plotly-plot").first
        plot.scroll_into_view_if_needed()
        drag = plot.locator(".nsewdrag").first.bounding_box()
        y = drag["y"] + drag["height"] / 2
        page.mouse.move(drag["x"] + drag["width"] * 0.3, y)
        page.mouse.down()
        page.mouse.move(drag["x"] + drag["width"] * 0.5, y, steps=8)
        page.mouse.move(drag["x"] + drag["width"] * 0.6, y + 5, steps=8)
        page.mouse.up()
        # the URL may say range=custom a rerun before it carries the zoomed span: wait for all three
        page.wait_for_function(
            "() => ['range=custom', 'from=', 'to='].every((p) => location.search.includes(p))", timeout=30_000
        )
        zoomed = dict(parse_qsl(urlparse(page.url).query))
        start_zoom, end_zoom = (datetime.fromisoformat(zoomed[k]) for k in ("from", "to"))
        span = end_zoom - start_zoom
        assert timedelta(hours=1) < span < timedelta(hours=3), span  # about 30 % of the 6 hours
        # The sidebar's period follows one rerun after the URL (seen in a clean-clone run): wait for it to say so.
        expect(widget(page, "stSelectbox", "Période", sidebar=True).locator("input")).to_have_value(
            re.compile(r"^Personnalisée"), timeout=30_000
        )
        page.get_by_text(f"au {end_zoom.strftime('%d/%m/%Y %H:%M')} (heure de Martinique)").filter(
            visible=True
        ).first.wait_for(timeout=30_000)

        # Language switch: the page follows, the view stays.
        page.get_by_text("English").click()
        page.get_by_text("Evolution of key variables").wait_for(timeout=20_000)
        assert widget(page, "stSelectbox", "Window").locator("input").input_value() == "15 min"
        assert "Air quality" in widget(page, "stMultiSelect", "Sensor kinds", sidebar=True).inner_text()
        page.get_by_text("Correlation between variables").wait_for()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 7", timeout=30_000)
        no_raw_labels(page)
        full_screenshot(page, shots / "trends-en.png")
