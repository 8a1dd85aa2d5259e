"""The Sensor page in Streamlit's AppTest on real PostgreSQL (simulated history written by the real writer): identity,
freshness, latest value of every metric equal to sensor_latest, all metrics charted from the named source, alert
history, battery trend whose slope equals a least-squares fit of the hourly means read directly, data quality with
the gap threshold restored from the URL, English labels, and clear messages for an unknown sensor, no data in the
range, an empty database and an unreachable one. The dashboard clock is pinned (tests.support.page_seed.pinned_now) and
the data seeded relative to it: nothing depends on where the wall clock is in a minute."""

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import psycopg2
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ingestion.catalogue import SENSORS
from tests.support.page_seed import FDF_AQ, FDF_WX, pin_clock, pinned_now, seed_alerts, seed_history
from tests.support.page_seed import shown_name as page_shown_name

ROOT = Path(__file__).resolve().parents[2]
# The real sidebar, then the real page file (see test_apptest_live.py for why not st.navigation here).
HARNESS = f"""
import runpy
from components.sidebar import render_sidebar
render_sidebar()
runpy.run_path({str(ROOT / "pages" / "sensor.py")!r}, run_name="__page__")
"""
SENSOR = {s.sensor_id: s for s in SENSORS}


@pytest.fixture
def now():
    return pinned_now()


@pytest.fixture
def app_env(monkeypatch, now):
    def start(url: str, params: dict | None = None) -> AppTest:
        pin_clock(monkeypatch, now)
        monkeypatch.setenv("DATABASE_URL", url)
        for name in ("DASHBOARD_DATABASE_URL", "MADININA_READER_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_string(HARNESS, default_timeout=60)
        at.query_params = params or {}
        return at.run()

    yield start
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def seeded(pg_cluster, db_name, conn, now):
    url = pg_cluster.url(db_name)
    seed_history(url, hours=8, now=now)
    seed_alerts(conn, FDF_AQ[0], now=now)
    return url


def shown_name(sensor_id: str) -> str:
    return page_shown_name(SENSOR[sensor_id])


def cards(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def fr(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


def sql(url: str, query: str, params=()):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def markdown_text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_sensor_from_the_url_with_latest_values_series_and_alerts(seeded, app_env):
    sid = FDF_AQ[0]
    at = app_env(seeded, {"sensor_id": sid, "range": "6h"})
    assert not at.exception, at.exception
    assert at.title[0].value == "Capteur"
    assert at.selectbox(key="sensor_select").value == sid
    assert at.subheader[0].value == shown_name(sid)
    assert f"`{sid}` · Qualité de l'air · Fort-de-France (INSEE 97209)" in markdown_text(at)
    values = cards(at)
    assert values["Intervalle attendu"] == "1\u202fs"  # CLDR French: a narrow no-break space before the unit
    assert values["Alertes ouvertes"] == "2"
    # One reading a minute (the last 30 s before the pinned now), 1 s expected: stale (over 10 s, under 2 min).
    assert values[":orange[:material/schedule:] État"] == "en retard"
    # Latest value of each of its metrics: exactly sensor_latest.
    latest = at.dataframe[0].value
    expected = sql(
        seeded,
        """SELECT m.label_fr || ' (' || m.unit || ')', l.value, m.unit FROM sensor_latest l
             JOIN metrics m USING (metric) WHERE l.sensor_id = %s ORDER BY l.metric""",
        (sid,),
    )
    shown = dict(zip(latest["Mesure"], latest["Valeur"], strict=True))
    assert len(shown) == len(SENSOR[sid].metrics) == len(expected)
    for label, value, unit in expected:
        assert shown[label] == f"{fr(value, 2)} {unit}"
    # All its metrics over the range, from the named source (6 h: 1-minute windows).
    assert "Source : **sensor_data_agg** (fenêtres de 1\xa0min ré-agrégées exactement)" in markdown_text(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    titles = {a["text"] for a in spec["layout"]["annotations"]}
    assert {label for label, _, _ in expected} <= titles  # one panel per metric
    assert len(spec["data"]) >= len(expected) and all(len(trace["x"]) <= 5000 for trace in spec["data"])
    assert "Ce capteur ne mesure pas de batterie (alimenté sur secteur)." in [c.value for c in at.caption]
    # Alert history, most recent first.
    assert "3 alertes (dont 2 ouvertes), les plus récentes d'abord." in [c.value for c in at.caption]
    history = at.dataframe[1].value
    assert list(history["Message"]) == ["PM10 > 80", "muet", "NO2 > 200"]


def test_battery_trend_and_quality_with_the_gap_threshold_from_the_url(seeded, app_env, now):
    at = app_env(seeded, {"sensor_id": FDF_WX, "range": "6h", "gap": "300"})
    assert not at.exception, at.exception
    assert at.session_state["sensor_gap_factor"] == 300
    values = cards(at)
    # The slope: a least-squares line through the hourly battery means (at mid-hour) of the last 3 days.
    hourly = sql(
        seeded,
        """SELECT window_start, avg FROM sensor_data_agg WHERE sensor_id = %s AND metric = 'battery'
              AND window_end - window_start = interval '1 hour' AND window_start >= %s - interval '3 days'
              AND window_start < %s
            ORDER BY 1""",
        (FDF_WX, now, now),
    )
    assert len(hourly) >= 8
    x = np.array([(t - hourly[0][0]).total_seconds() / 86400 for t, _ in hourly])
    slope = float(np.polyfit(x, np.array([v for _, v in hourly]), 1)[0])
    assert slope < 0
    assert values["Pente (points/jour)"] == fr(slope, 2)
    assert values["Épuisement (0 %) vers"][2] == "/" and values["Seuil critique (10 %) vers"][2] == "/"
    assert any(
        c.value.startswith(f"Droite des moindres carrés sur {len(hourly)} moyennes horaires") for c in at.caption
    )
    assert len(at.get("plotly_chart")) == 2  # its metrics, the battery
    # Data quality: readings every minute, no gap of 300 x 1 s; no stuck run reported for the battery.
    quality = at.dataframe[1].value
    assert len(quality) == len(SENSOR[FDF_WX].metrics)
    assert set(quality["Trous"]) == {"0"} and set(quality["Couverture"]) == {"100,0\xa0%"}
    readings = quality.set_index("Mesure").loc["Température (°C)", "Lectures"]
    # One a minute at hh:mm:00 over [now - 6 h, now), now pinned at hh:mm:30 (6 h range floored to 10 s): 360.
    assert int(readings.replace("\u202f", "")) == 360
    assert quality.set_index("Mesure").loc["Batterie (%)", "Valeurs figées"] == "—"

    # The default threshold follows the step the history is stored at (one reading a minute), not the sensor's 1 s:
    # a healthy sensor has no gap and full coverage (10 x 1 s would make every minute a gap).
    at = app_env(seeded, {"sensor_id": FDF_WX, "range": "6h"})
    quality = at.dataframe[1].value.set_index("Mesure")
    assert set(quality["Trous"]) == {"0"} and set(quality["Couverture"]) == {"100,0\xa0%"}
    assert any("Pas des données enregistrées sur la période : 1\xa0min" in c.value for c in at.caption)
    assert "gap" not in at.query_params
    # A real silence still shows: 30 minutes of temperature readings removed, 10 x 1 min threshold.
    with psycopg2.connect(seeded) as c, c.cursor() as cur:
        cur.execute(
            "DELETE FROM sensor_data WHERE sensor_id = %s AND metric = 'temperature' AND time >= %s AND time < %s",
            (FDF_WX, now - timedelta(hours=2), now - timedelta(hours=2) + timedelta(minutes=30)),
        )
    at = app_env(seeded, {"sensor_id": FDF_WX, "range": "6h"})
    quality = at.dataframe[1].value.set_index("Mesure")
    # One gap of 31 min: from the last reading kept to the next one (30 readings a minute apart removed).
    assert quality.loc["Température (°C)", "Trous"] == "1 (31\xa0min, le plus long 31\xa0min)"
    assert quality.loc["Humidité relative (%)", "Trous"] == "0"


def test_english_labels(seeded, app_env):
    at = app_env(seeded, {"sensor_id": FDF_AQ[0], "range": "6h", "lang": "en"})
    assert not at.exception, at.exception
    assert at.title[0].value == "Sensor"
    text = markdown_text(at)
    assert "#### Data freshness" in text and "#### Alert history" in text and "#### Data quality" in text
    assert "Air quality · Fort-de-France" in text
    assert cards(at)["Open alerts"] == "2"
    assert "Metric" in at.dataframe[0].value.columns


def test_picking_another_sensor_updates_the_url(seeded, app_env):
    at = app_env(seeded, {"sensor_id": FDF_AQ[0], "range": "6h"})
    at.selectbox(key="sensor_select").set_value(FDF_WX).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == shown_name(FDF_WX)
    assert at.query_params["sensor_id"] in (FDF_WX, [FDF_WX])


def test_unknown_sensor_and_no_data_in_range(seeded, app_env):
    at = app_env(seeded, {"sensor_id": "mq-nowhere-01", "range": "6h"})
    assert not at.exception, at.exception
    assert any("Capteur inconnu : « mq-nowhere-01 »" in w.value for w in at.warning)
    params = {"sensor_id": FDF_AQ[0], "range": "custom", "from": "2020-01-01T08:00", "to": "2020-01-02T08:00"}
    at = app_env(seeded, params)
    assert not at.exception, at.exception
    assert any("Aucune lecture de ce capteur sur cette période" in i.value for i in at.info)
    assert at.subheader[0].value == shown_name(FDF_AQ[0])  # identity and latest values stay


def test_empty_database_says_so(pg_cluster, db_name, app_env):
    at = app_env(pg_cluster.url(db_name), {"sensor_id": FDF_AQ[0]})
    assert not at.exception, at.exception
    infos = [i.value for i in at.info]
    assert any("la base est vide" in i for i in infos)
    assert "Ce capteur n'a encore envoyé aucune lecture." in infos


def test_unreachable_database(app_env):
    from tests.support.services import free_port

    at = app_env(f"postgresql://postgres@127.0.0.1:{free_port()}/madinina", {"sensor_id": FDF_AQ[0]})
    assert not at.exception, at.exception
    assert any("Base de données injoignable" in e.value for e in at.error)
