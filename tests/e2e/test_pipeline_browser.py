"""The Pipeline page of the real app in headless Chromium: seeded pipeline_kpi samples, processor batch records and
quarantined messages, a shared URL restoring the range and filters, stage latencies equal to the percentiles of the
samples with readable (non-overlapping) log-axis ticks, throughput of every processor named in the legend, the
freshness strip's legend, quarantine counts, and the language switch."""

import re
import time
from urllib.parse import urlencode

import pytest

from components import formatting
from ingestion.catalogue import SENSORS
from tests.support.app import dashboard
from tests.support.browser import (
    full_screenshot,
    metric_value,
    no_raw_labels,
    no_traceback,
    table_cells,
    wait_for_content,
    widget,
)
from tests.support.page_seed import (
    BACKFILL_READINGS,
    KPI_MESSAGES,
    KPI_MS,
    KPI_ROWS,
    SPARK_BATCHES,
    percentile_cont,
    pinned_now,
    seed_history,
    seed_pipeline,
)
from tests.support.services import free_port

pytestmark = pytest.mark.e2e
FDF = [s.sensor_id for s in SENSORS if s.commune == "Fort-de-France"]


STORED = 5 * KPI_ROWS + BACKFILL_READINGS + sum(stored for stored, _ in SPARK_BATCHES)


def fr1(value: float) -> str:
    return formatting.fmt_number(value, "fr", 1)  # CLDR rounding, as shown (not the binary float's)


def tick_boxes(page, chart: int) -> list[dict]:
    """Bounding boxes of the x-axis tick labels of the chart-th Plotly chart of the page."""
    ticks = page.locator(".js-plotly-plot").nth(chart).locator(".xtick text")
    return [ticks.nth(i).bounding_box() for i in range(ticks.count())]


def legend(page) -> str:
    return " ".join(page.locator(".js-plotly-plot .legendtext").all_text_contents())


def test_pipeline_shared_url_numbers_and_language(pg_cluster, db_url, conn, output_dir, page):
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    shots = output_dir / "screenshots"
    now = pinned_now()  # the dashboard clock, pinned: the seeds and the page agree on one instant
    seed_history(db_url, hours=1, now=now)
    seed_pipeline(conn, now)
    with dashboard(db_url, free_port(), logs / "dashboard-pipeline.log", now=now) as url:
        started = time.monotonic()
        page.goto(f"{url}/pipeline?{urlencode({'range': '1h', 'commune': 'Fort-de-France'})}")
        page.get_by_role("heading", name="Latence par étape").wait_for(timeout=30_000)
        to_content = time.monotonic() - started
        wait_for_content(page, "pipeline", timeout_ms=120_000)  # the whole script has run: every table is there
        assert "Fort-de-France" in widget(page, "stMultiSelect", "Communes", sidebar=True).inner_text()
        assert widget(page, "stSelectbox", "Période", sidebar=True).locator("input").input_value() == ("Dernière heure")
        # Stage latencies: the p95 of each stage's samples is on the page.
        grid = table_cells(page, 0)
        for values in KPI_MS.values():
            assert fr1(percentile_cont(values, 0.95)) in grid, (values, grid)
        assert "get_pipeline_latency_stats('3600 seconds')" in page.inner_text("body")
        assert metric_value(page, "Lectures stockées") == f"{STORED:,}".replace(",", "\u202f")
        assert metric_value(page, "Messages reçus") == str(5 * KPI_MESSAGES)
        assert metric_value(page, "Messages en quarantaine") == "5"
        assert metric_value(page, "Motifs distincts") == "2"
        page.get_by_text(f"{len(FDF)} capteurs (filtres de la barre latérale)").wait_for()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=30_000)
        # Latency: decade ticks with units, no two labels overlapping.
        boxes = tick_boxes(page, 0)
        assert len(boxes) >= 2 and all(a["x"] + a["width"] <= b["x"] for a, b in zip(boxes, boxes[1:], strict=False))
        assert any(
            re.search(r"\sms$", text)
            for text in page.locator(".js-plotly-plot").nth(0).locator(".xtick text").all_text_contents()
        )
        names = legend(page)
        for series in ("Léger · MQTT (consume)", "Backfill (historique)", "Spark (micro-lots)", "jamais reçu (0)"):
            assert series in names, (series, names)
        no_traceback(page)
        no_raw_labels(page)
        print(f"pipeline: content after {to_content:.1f} s, checks done after {time.monotonic() - started:.1f} s")
        full_screenshot(page, shots / "pipeline.png")

        page.get_by_text("English").click()
        page.get_by_role("heading", name="Latency per stage").wait_for(timeout=20_000)
        wait_for_content(page, "pipeline", timeout_ms=120_000)
        assert metric_value(page, "Readings stored") == f"{STORED:,}"
        page.get_by_text(f"{len(FDF)} sensors (sidebar filters)").wait_for()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=30_000)
        assert "Lite · MQTT (consume)" in legend(page) and "never reported (0)" in legend(page)
        no_raw_labels(page)
        full_screenshot(page, shots / "pipeline-en.png")
