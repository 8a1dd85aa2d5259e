"""The Live page in Streamlit's AppTest on real PostgreSQL: KPIs with real numbers, filters restored from the URL,
language switch, acknowledging an alert from the form (as the current actor), empty and unreachable database. Also
the data_access.live reads with exact values. The dashboard clock is pinned mid-minute
(tests.support.page_seed.pinned_now) and the readings seeded relative to it, so "the last complete minute" never
depends on where the wall clock is."""

import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from components import formatting
from components.csv_export import read_export
from data_access import live
from data_access.engine import make_engine
from ingestion.catalogue import SENSORS
from ingestion.writer import BatchTimings, Writer
from tests.support.page_seed import pin_clock, pinned_now

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
# AppTest loses the entry script's sidebar elements after the first rerun of a page registered with st.navigation
# (Streamlit 1.67 AppTest; the browser is fine). Interactions are therefore tested through this harness: the real
# sidebar, then the real page file, without navigation. app.py itself is run once per test where it matters.
HARNESS = f"""
import runpy
from components.sidebar import render_sidebar
render_sidebar()
runpy.run_path({str(ROOT / "pages" / "live.py")!r}, run_name="__page__")
"""
FDF_AQ = [s.sensor_id for s in SENSORS if s.commune == "Fort-de-France" and s.kind == "air_quality"]
AQ1 = FDF_AQ[0]
ENV = next(s.sensor_id for s in SENSORS if s.kind == "environment")


def frame(rows):
    return pd.DataFrame(
        {
            "time": pd.to_datetime([r[0] for r in rows], utc=True),
            "sensor_id": [r[1] for r in rows],
            "metric": [r[2] for r in rows],
            "value": [float(r[3]) for r in rows],
        }
    )


NOW = pinned_now()  # hh:mm:30: the "now - 1 s" readings are in the current minute, the last complete one is before


@pytest.fixture(autouse=True)
def _pinned():
    """A pinned instant per test (near the database's own now(), which the latency reads use)."""
    global NOW
    NOW = pinned_now()


def seed_now(url: str, now: datetime | None = None) -> datetime:
    """Fresh readings for the Fort-de-France air-quality sensors (online), older ones for ENV (stale), alerts."""
    now = now or NOW
    minute = now.replace(second=0, microsecond=0)
    rows = []
    for sensor in FDF_AQ:
        rows += [(now - timedelta(seconds=1), sensor, "pm10", 30.0), (now - timedelta(seconds=1), sensor, "no2", 5.0)]
        rows += [(minute - timedelta(seconds=30), sensor, "pm10", 20.0)]  # last complete minute
        rows += [(minute - timedelta(seconds=90), sensor, "pm10", 10.0)]  # the minute before
    rows += [(now - timedelta(seconds=60), ENV, "co2", 700.0)]
    with Writer(url) as writer:
        writer.write(frame(rows), timings=BatchTimings(source=now.timestamp() - 0.5, received=now.timestamp() - 0.1))
    return now


def seed_alerts(conn) -> list[int]:
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, value, threshold, message)
               VALUES (%s, 'pm10', 'threshold', 'critical', now() - interval '10 minutes', 92.5, 80, 'PM10 > 80'),
                      (%s, 'no2', 'threshold', 'warning', now() - interval '1 hour', 210, 200, 'NO2 > 200')
               RETURNING alert_id""",
            (AQ1, FDF_AQ[1]),
        )
        return [r[0] for r in cur.fetchall()]


@pytest.fixture
def app_env(monkeypatch):
    def start(url: str, entry: str = "harness") -> AppTest:
        pin_clock(monkeypatch, NOW)
        monkeypatch.setenv("DATABASE_URL", url)
        for name in ("DASHBOARD_DATABASE_URL", "MADININA_READER_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        st.cache_data.clear()
        st.cache_resource.clear()
        return (
            AppTest.from_file(APP, default_timeout=60)
            if entry == "app"
            else AppTest.from_string(HARNESS, default_timeout=60)
        )

    yield start
    st.cache_data.clear()
    st.cache_resource.clear()


def fr2(value: float, decimals: int) -> str:
    return formatting.fmt_number(value, "fr", decimals)  # CLDR rounding, as shown (not the binary float's)


def metric_values(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# -- data_access.live --------------------------------------------------------------------------------------------------
def test_live_reads_exact_values(pg_cluster, db_name, conn):
    now = seed_now(pg_cluster.url(db_name))
    with conn.cursor() as cur:  # end_to_end latencies: 100..1000 ms now, one old outlier outside the 5 minutes
        cur.executemany(
            "INSERT INTO pipeline_kpi (time, stage, latency_ms, rows, batch_id) VALUES (%s, 'end_to_end', %s, 1, 'b')",
            [(now - timedelta(seconds=30), 100.0 * k) for k in range(1, 11)] + [(now - timedelta(minutes=10), 1e6)],
        )
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    try:
        catalogue = live.sensor_catalogue(engine).set_index("sensor_id")
        assert len(catalogue) == len(SENSORS)
        assert catalogue.loc[AQ1, "metrics"] == ("no2", "pm10") and catalogue.loc[ENV, "metrics"] == ("co2",)

        overview = live.metric_overview(engine, sensor_ids=tuple(FDF_AQ), now=now).set_index("metric")
        assert overview.loc["pm10", "current"] == 20.0 and overview.loc["pm10", "previous"] == 10.0
        assert overview.loc["pm10", "sensors"] == len(FDF_AQ)
        assert "co2" not in overview.index
        # Readings/s follows the filters: the seed put one pm10 reading per sensor in the last complete minute.
        assert overview["readings"].to_dict() == {"pm10": len(FDF_AQ)}
        assert live.readings_per_s(overview) == pytest.approx(len(FDF_AQ) / 60)
        everyone = live.metric_overview(engine, now=now)
        assert live.readings_per_s(everyone) == pytest.approx((len(FDF_AQ) + 1) / 60)  # + ENV's co2 reading

        # Messages/s: what the live consumers' ledger rows received in the last minute; backfill rows are readings.
        assert live.message_rate(engine, seconds=60, now=now) is None  # the seed's writer committed after `now`
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO ingest_ledger (batch_id, committed_at, processor, source, received, stored, duplicates,"
                " quarantined, quarantine_duplicates) VALUES (%s, %s, %s, %s, %s, 0, 0, 0, 0)",
                [
                    ("l1", now - timedelta(seconds=50), "lite", "mqtt", 60),
                    ("l2", now - timedelta(seconds=10), "lite", "mqtt", 90),
                    ("l3", now - timedelta(seconds=70), "lite", "mqtt", 1000),  # before the minute
                    ("l4", now + timedelta(seconds=5), "lite", "mqtt", 1000),  # after now
                    ("b1", now - timedelta(seconds=20), "backfill", "backfill", 50000),
                ],
            )
        assert live.message_rate(engine, seconds=60, now=now) == pytest.approx(150 / 60)
        assert live.metric_overview(engine, sensor_ids=(ENV,), now=now).empty or (
            live.metric_overview(engine, sensor_ids=(ENV,), now=now)["metric"].tolist() == ["co2"]
        )

        counts = live.status_counts(live.sensor_status(engine, sensor_ids=(*FDF_AQ, ENV), now=now))
        assert counts == {"online": len(FDF_AQ), "stale": 1, "offline": 0, "total": len(FDF_AQ) + 1}

        latency = live.end_to_end_latency(engine, minutes=5)
        # 10 writer-measured samples are not in this table (the seed batch adds one more: its own end_to_end).
        assert latency["samples"] == 11
        values = sorted([100.0 * k for k in range(1, 11)] + [latency_of_seed(conn)])
        assert latency["p95_ms"] == pytest.approx(percentile_cont(values, 0.95))
    finally:
        engine.dispose()


def latency_of_seed(conn) -> float:
    with conn.cursor() as cur:
        cur.execute("SELECT latency_ms FROM pipeline_kpi WHERE stage = 'end_to_end' AND batch_id <> 'b'")
        return cur.fetchone()[0]


def percentile_cont(values, q):
    pos = q * (len(values) - 1)
    lo = int(pos)
    return values[lo] + (values[min(lo + 1, len(values) - 1)] - values[lo]) * (pos - lo)


# -- the page -------------------------------------------------------------------------------------------------------
def test_live_page_kpis_and_alert_feed(pg_cluster, db_name, conn, app_env):
    seed_now(pg_cluster.url(db_name))
    seed_alerts(conn)
    at = app_env(pg_cluster.url(db_name), entry="app").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Temps réel"
    values = metric_values(at)
    assert values["Capteurs en ligne"] == f"{len(FDF_AQ)} / {len(SENSORS)}"
    assert values["En retard"] == "1"
    assert values["Alertes ouvertes"] == "2"
    assert any(label.endswith("Critiques") and v == "1" for label, v in values.items())
    assert values["PM10 (µg/m³)"] == "20,0"  # mean of the last complete minute; the full label is in its help
    # Readings/s of the sensors shown over the last complete minute (exact counts: test_live_reads_exact_values).
    assert values["Lectures/s"] == fr2((len(FDF_AQ) + 1) / 60, 1)
    # Messages/s comes from the ledger of live consumers: the seed went through a writer at the wall clock, after
    # the pinned instant, and no consumer is running: not measured, said so rather than 0.
    assert values["Messages/s"] == "—"
    assert len(at.get("plotly_chart")) >= 1
    assert sum("mm-grid" in h.proto.body for h in at.get("html")) == 1  # the status grid
    feed = at.dataframe[0].value
    assert feed["Gravité"].tolist() == ["critique", "avertissement"]
    assert "PM10 > 80" in feed["Message"].tolist()


def test_live_filters_come_from_the_url_and_the_language_switches(pg_cluster, db_name, app_env):
    seed_now(pg_cluster.url(db_name))
    at = app_env(pg_cluster.url(db_name))
    at.query_params = {
        "commune": "Fort-de-France",
        "kind": "air_quality",
        "metric": "pm10",
        "range": "6h",
        "lw": "5 min",
    }
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.multiselect(key="sb_communes").value == ["Fort-de-France"]
    assert at.sidebar.multiselect(key="sb_kinds_fr").value == ["air_quality"]
    assert at.sidebar.selectbox(key="sb_metric_fr").value == "pm10"
    assert at.sidebar.selectbox(key="sb_range_fr").value == "6h"
    assert at.session_state["live_window"] == "5 min"
    assert metric_values(at)["Capteurs en ligne"] == f"{len(FDF_AQ)} / {len(FDF_AQ)}"
    assert at.query_params["commune"] == ["Fort-de-France"] or at.query_params["commune"] == "Fort-de-France"

    # Narrowing: dropping the commune and kind filters follows all sensors again (widget interaction, rerun).
    at.sidebar.multiselect(key="sb_communes").set_value([]).run()
    at.sidebar.multiselect(key="sb_kinds_fr").set_value([]).run()
    assert not at.exception, at.exception
    assert metric_values(at)["Capteurs en ligne"] == f"{len(FDF_AQ)} / {len(SENSORS)}"
    assert "commune" not in at.query_params and at.query_params["metric"] in ("pm10", ["pm10"])


def test_language_from_the_url_translates_labels_but_keeps_filters(pg_cluster, db_name, app_env):
    # (AppTest keeps the first run's format_func of a selectbox, so the radio click itself is tested in the
    # browser; here the same state arrives through the URL.)
    seed_now(pg_cluster.url(db_name))
    at = app_env(pg_cluster.url(db_name))
    at.query_params = {"lang": "en", "commune": "Fort-de-France", "kind": "air_quality"}
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Live"
    assert at.sidebar.radio(key="sidebar_lang").value == "en"
    assert metric_values(at)["Sensors online"] == f"{len(FDF_AQ)} / {len(FDF_AQ)}"
    assert at.sidebar.multiselect(key="sb_communes").label == "Towns"
    assert at.sidebar.multiselect(key="sb_kinds_en").value == ["air_quality"]


def test_acknowledge_from_the_form_persists(pg_cluster, db_name, conn, app_env):
    """No name box: the acting identity is components.identity's (the unauthenticated demo operator here, which
    the page says next to the form). The other actions: tests/integration/test_apptest_alert_actions.py."""
    seed_now(pg_cluster.url(db_name))
    critical, _ = seed_alerts(conn)
    at = app_env(pg_cluster.url(db_name)).run()
    assert not at.text_input, "no free-text name box"
    assert any("Actions non authentifiées" in c.value for c in at.caption)
    assert at.selectbox(key="action_alert_0_fr").value == critical
    at.text_area(key="action_text_acknowledge_0").input("Nettoyage du capteur prévu")
    next(b for b in at.button if b.label == "Acquitter").click()
    at.run()
    assert not at.exception, at.exception
    assert any("acquittée par demo" in s.value for s in at.success)
    with conn.cursor() as cur:
        cur.execute("SELECT acknowledged_by, ack_comment, acknowledged_at IS NOT NULL FROM alerts WHERE alert_id = %s",
                    (critical,))  # fmt: skip
        assert cur.fetchone() == ("demo", "Nettoyage du capteur prévu", True)
    feed = at.dataframe[0].value
    assert feed["Acquittement"].iloc[0].startswith("✔ demo")


def test_export_read_on_click_holds_every_sensor_and_latest_reading(pg_cluster, db_name, app_env):
    """The Live CSV reads the latest readings only when prepared; its size said before (from the catalogue) is its
    number of lines, and its lines are the readings seeded: each sensor once per metric it reported, once if none."""
    seed_now(pg_cluster.url(db_name))
    at = app_env(pg_cluster.url(db_name)).run()
    assert not at.exception, at.exception
    assert not at.get("download_button")  # nothing built before the click
    expected_rows = len(SENSORS) + len(FDF_AQ)  # FDF_AQ: pm10 and no2; ENV: co2; the others: no reading
    assert any(f": {expected_rows} lignes" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Préparer l'export CSV").click()
    at.run()
    assert not at.exception, at.exception
    _, data = read_export(at.session_state["live_csv"]["payload"])
    assert len(data) == expected_rows and set(data["sensor_id"]) == {s.sensor_id for s in SENSORS}
    seeded = {(s, "pm10"): 30.0 for s in FDF_AQ} | {(s, "no2"): 5.0 for s in FDF_AQ} | {(ENV, "co2"): 700.0}
    with_reading = data[data["metric"] != ""]
    keys = zip(with_reading["sensor_id"], with_reading["metric"], strict=True)
    assert dict(zip(keys, with_reading["value"].astype(float), strict=True)) == seeded  # "" in the others
    assert (data.loc[data["metric"] == "", "value"] == "").all()


def test_empty_database_says_so(pg_cluster, db_name, app_env):
    at = app_env(pg_cluster.url(db_name)).run()
    assert not at.exception, at.exception
    assert any("la base est vide" in i.value for i in at.info)


def test_unreachable_database_shows_the_banner(app_env):
    from tests.support.services import free_port

    started = time.monotonic()
    at = app_env(f"postgresql://postgres@127.0.0.1:{free_port()}/madinina").run()
    assert not at.exception, at.exception
    assert any("Base de données injoignable" in e.value for e in at.error)
    assert time.monotonic() - started < 30
