"""The Trends page in Streamlit's AppTest on real PostgreSQL: the source and window are named, raw vs aggregates by
range, window widening, URL-restored page controls, alert distribution, period comparison, CSV export built on
click and equal to a direct SQL query, empty range and unreachable database."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from components import clock
from components.csv_export import read_export
from ingestion.catalogue import SENSORS
from ingestion.writer import Writer
from tests.support.page_seed import pin_clock, pinned_now

ROOT = Path(__file__).resolve().parents[2]
# The real sidebar, then the real page file (see test_apptest_live.py for why not st.navigation here).
HARNESS = f"""
import runpy
from components.sidebar import render_sidebar
render_sidebar()
runpy.run_path({str(ROOT / "pages" / "trends.py")!r}, run_name="__page__")
"""
FDF_AQ = [s.sensor_id for s in SENSORS if s.commune == "Fort-de-France" and s.kind == "air_quality"]


def seed(url: str, conn, *, hours: float = 5) -> datetime:
    """One reading a minute for the Fort-de-France air-quality sensors (pm10, no2) over the last `hours`, and a
    few alerts. Values are deterministic functions of (sensor, minute)."""
    now = (clock.pinned() or datetime.now(UTC)).replace(second=0, microsecond=0)  # the pinned clock's minute
    minutes = np.arange(int(hours * 60))
    times = pd.to_datetime([now - timedelta(minutes=int(m)) for m in minutes], utc=True)
    parts = []
    for i, sensor in enumerate(FDF_AQ):
        for metric, base in (("pm10", 20.0), ("no2", 40.0)):
            values = base + i * 3 + 10 * np.sin(minutes / 37.0 + i) + (minutes % 7) * 0.25
            parts.append(pd.DataFrame({"time": times, "sensor_id": sensor, "metric": metric, "value": values}))
    with Writer(url) as writer:
        writer.write(pd.concat(parts, ignore_index=True))
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, closed_at, message) VALUES
               (%s, 'pm10', 'threshold', 'critical', now() - interval '50 minutes', NULL, 'a'),
               (%s, 'no2', 'threshold', 'warning', now() - interval '2 hours', now() - interval '1 hour', 'b'),
               (%s, NULL, 'offline', 'warning', now() - interval '3 hours', NULL, 'c')""",
            (FDF_AQ[0], FDF_AQ[1], FDF_AQ[2]),
        )
    return now


@pytest.fixture(autouse=True)
def now(monkeypatch):
    """The dashboard clock pinned mid-minute for this test (tests.support.page_seed.pinned_now); seeds follow it."""
    moment = pinned_now()
    pin_clock(monkeypatch, moment)
    return moment


@pytest.fixture
def app_env(monkeypatch):
    def start(url: str, params: dict) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", url)
        for name in ("DASHBOARD_DATABASE_URL", "MADININA_READER_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_string(HARNESS, default_timeout=60)
        at.query_params = params
        return at.run()

    yield start
    st.cache_data.clear()
    st.cache_resource.clear()


def markdown_text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


FDF = {"commune": "Fort-de-France", "kind": "air_quality", "metric": "pm10"}


def test_aggregates_for_six_hours_named_with_window_and_all_sections(pg_cluster, db_name, conn, app_env):
    seed(pg_cluster.url(db_name), conn, hours=13)  # the previous period (6 h before) has data too
    at = app_env(pg_cluster.url(db_name), {**FDF, "range": "6h", "window": "15min", "vars": ["pm10", "no2"]})
    assert not at.exception, at.exception
    assert at.title[0].value == "Tendances"
    text = markdown_text(at)
    assert "**sensor_data_agg**" in text and "**15 min**" in text and "1 min" in text
    assert at.session_state["tr_window"] == "15min" and at.session_state["tr_vars"] == ("pm10", "no2")
    assert at.multiselect(key="tr_vars_fr").value == ["pm10", "no2"]
    subheaders = [s.value for s in at.subheader]
    for expected in ("Évolution des variables clés", "Comparaison des capteurs : PM10 (particules) (µg/m³)",
                     "Comparaison de périodes : PM10 (particules) (µg/m³)", "Corrélation entre variables",
                     "Répartition des alertes", "Export CSV"):  # fmt: skip
        assert expected in subheaders
    assert len(at.get("plotly_chart")) >= 7  # evolution, comparison, periods, correlation, 3 alert charts
    assert any("3 alertes ouvertes sur la période" in c.value for c in at.caption)
    cards = {m.label: m.value for m in at.metric}
    assert float(cards["Cette période (µg/m³)"].replace("\u202f", "").replace(",", ".")) > 0
    assert cards["Écart relatif"].endswith("%")
    assert not at.warning  # a 15-minute window over 6 h needs no widening


def test_raw_readings_for_one_hour(pg_cluster, db_name, conn, app_env):
    seed(pg_cluster.url(db_name), conn)
    at = app_env(pg_cluster.url(db_name), {**FDF, "range": "1h"})
    assert not at.exception, at.exception
    text = markdown_text(at)
    assert "**sensor_data**" in text and "lectures brutes" in text and "**1 min**" in text  # auto window for 1 h


def test_window_widened_past_the_points_budget(pg_cluster, db_name, conn, app_env):
    seed(pg_cluster.url(db_name), conn)
    at = app_env(pg_cluster.url(db_name), {**FDF, "range": "30d", "window": "1min"})
    assert not at.exception, at.exception
    # 43,200 one-minute buckets: 15 min would keep 2,880 points, but 4 series x 30 days of 1-minute windows is
    # more than a page may read: hourly aggregates.
    assert any("Fenêtre élargie de 1 min à 1 h" in w.value for w in at.warning)
    assert "**1 h**" in markdown_text(at) and "agrégats fenêtrés de 1 h" in markdown_text(at)


def test_csv_export_built_on_click_equals_sql(pg_cluster, db_name, conn, app_env, now):
    url = pg_cluster.url(db_name)
    seed(url, conn)
    # Readings that arrived after the range's end (the pinned instant): no window of the export may hold them.
    late = pd.DataFrame({"time": pd.Timestamp(now) + pd.Timedelta(seconds=20), "sensor_id": FDF_AQ, "metric": "pm10"})
    with Writer(url) as writer:
        writer.write(late.assign(value=999.0))
    at = app_env(url, {**FDF, "range": "6h", "window": "1h", "vars": ["pm10"]})
    assert not at.exception, at.exception
    assert not at.get("download_button")  # nothing is generated before the click
    next(b for b in at.button if b.label == "Préparer l'export CSV").click()
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("download_button")) == 1
    header, data = read_export(at.session_state["trends_csv"]["payload"])
    assert header["window"] == "3600 s (1 h)"
    assert header["communes"] == "Fort-de-France" and header["kinds"] == "air_quality"
    assert header["metrics"] == "pm10"
    assert header["source"].startswith("sensor_data_agg")
    start_iso, end_iso = header["range"].split(" [")[0].split(" / ")
    assert start_iso.endswith("-04:00") and end_iso.endswith("-04:00")
    assert data["window_start"].str.endswith("-04:00").all()
    start, end = pd.Timestamp(start_iso), pd.Timestamp(end_iso)
    assert end <= pd.Timestamp(now)  # the declared end is the range's (to its last whole minute), not later
    # Independently: the raw readings of each hour, cut at the declared end.
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute(
            """SELECT sensor_id, date_bin('1 hour', time, timestamptz '2000-01-01 04:00+00') AS t,
                      avg(value), min(value), max(value), count(*)
                 FROM sensor_data
                WHERE metric = 'pm10' AND sensor_id = ANY(%s) AND time >= %s AND time < %s
                GROUP BY 1, 2 ORDER BY 1, 2""",
            (FDF_AQ, start.to_pydatetime(), end.to_pydatetime()),
        )
        expected = cur.fetchall()
    assert len(data) == len(expected) > 0
    for row, (sensor, t, mean, lo, hi, n) in zip(data.itertuples(), expected, strict=True):
        assert (row.sensor_id, pd.Timestamp(row.window_start), row.count) == (sensor, pd.Timestamp(t), n)
        assert (row.mean, row.min, row.max) == pytest.approx((mean, lo, hi), rel=1e-12)
        window_end = min(pd.Timestamp(t) + pd.Timedelta(hours=1), end)
        assert pd.Timestamp(row.window_end) == window_end
        assert row.partial == (window_end < pd.Timestamp(t) + pd.Timedelta(hours=1))
    assert data["partial"].sum() == len(FDF_AQ)  # the hour in progress, once per sensor
    assert data["max"].max() < 999  # the late readings are in no window


def test_english_labels_from_the_url(pg_cluster, db_name, conn, app_env):
    seed(pg_cluster.url(db_name), conn)
    at = app_env(pg_cluster.url(db_name), {**FDF, "range": "6h", "lang": "en", "cmp": "multiples"})
    assert not at.exception, at.exception
    assert at.title[0].value == "Trends"
    assert "Sensor comparison: PM10 (particulate matter) (µg/m³)" in [s.value for s in at.subheader]
    assert "means per **5 min** window" in markdown_text(at)  # the automatic window for 6 h
    assert at.get("plotly_chart")[1].key.startswith("trends_multiples")


def test_no_data_in_range_is_said_plainly(pg_cluster, db_name, conn, app_env):
    seed(pg_cluster.url(db_name), conn)
    params = {**FDF, "range": "custom", "from": "2020-01-01T08:00", "to": "2020-01-02T08:00"}
    at = app_env(pg_cluster.url(db_name), params)
    assert not at.exception, at.exception
    assert at.sidebar.datetime_input(key="sb_from").value == datetime(2020, 1, 1, 8, 0)
    infos = [i.value for i in at.info]
    assert any("Aucune donnée sur cette période" in i for i in infos)
    assert any("Aucune alerte ouverte sur cette période" in i for i in infos)


def test_unreachable_database(app_env):
    from tests.support.services import free_port

    at = app_env(f"postgresql://postgres@127.0.0.1:{free_port()}/madinina", {"range": "24h"})
    assert not at.exception, at.exception
    assert any("Base de données injoignable" in e.value for e in at.error)
