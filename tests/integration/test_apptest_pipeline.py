"""The Pipeline page in Streamlit's AppTest on real PostgreSQL: stage latencies equal to the percentiles of the
seeded pipeline_kpi samples (get_pipeline_latency_stats), throughput counting each batch once, freshness of the
sensors of the sidebar's filters (restored from the URL), quarantine counts by reason with escaped samples, English
labels, and clear messages for no data in the range, an empty database and an unreachable one."""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ingestion.catalogue import SENSORS
from tests.support.page_seed import (
    KPI_MS,
    KPI_ROWS,
    QUARANTINE,
    percentile_cont,
    pin_clock,
    pinned_now,
    seed_history,
    seed_pipeline,
)

ROOT = Path(__file__).resolve().parents[2]
# The real sidebar, then the real page file (see test_apptest_live.py for why not st.navigation here).
HARNESS = f"""
import runpy
from components.sidebar import render_sidebar
render_sidebar()
runpy.run_path({str(ROOT / "pages" / "pipeline.py")!r}, run_name="__page__")
"""
FDF = [s.sensor_id for s in SENSORS if s.commune == "Fort-de-France"]
STAGES_FR = {
    "source_to_broker": "Source → broker",
    "broker_to_processor": "Broker → traitement",
    "processor_to_db": "Traitement → base",
    "end_to_end": "De bout en bout",
}


@pytest.fixture(autouse=True)
def now(monkeypatch):
    """The dashboard clock pinned mid-minute for this test (tests.support.page_seed.pinned_now); seeds follow it."""
    moment = pinned_now()
    pin_clock(monkeypatch, moment)
    return moment


@pytest.fixture
def app_env(monkeypatch):
    def start(url: str, params: dict | None = None) -> AppTest:
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
    seed_history(url, hours=1, now=now)  # readings (no KPI: written without timings)
    seed_pipeline(conn, now)
    return url


def cards(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def fr1(value: float) -> str:
    return f"{value:,.1f}".replace(",", "\u202f").replace(".", ",")


def test_latency_throughput_freshness_and_quarantine(seeded, app_env):
    at = app_env(seeded, {"range": "1h", "commune": "Fort-de-France"})
    assert not at.exception, at.exception
    assert at.title[0].value == "Pipeline"
    assert [s.value for s in at.subheader] == [
        "Latence par étape",
        "Débit",
        "Fraîcheur par capteur",
        "Quarantaine",
        "Ingestion",
    ]
    # Latency per stage: the percentiles of the seeded samples, through get_pipeline_latency_stats('3600 seconds').
    latency = at.dataframe[0].value.set_index("Étape")
    assert list(latency.index) == list(STAGES_FR.values())
    for stage, values in KPI_MS.items():
        row = latency.loc[STAGES_FR[stage]]
        assert row["Lots mesurés"] == str(len(values))
        assert row["Moyenne (ms)"] == fr1(sum(values) / len(values))
        for q, column in ((0.5, "p50 (ms)"), (0.95, "p95 (ms)"), (0.99, "p99 (ms)")):
            assert row[column] == fr1(percentile_cont(values, q)), (stage, column)
        assert row["Max (ms)"] == fr1(max(values))
    assert any("get_pipeline_latency_stats('3600 seconds')" in c.value for c in at.caption)
    # Throughput: 5 batches of KPI_ROWS readings, each counted once though it has 4 stage rows.
    values = cards(at)
    assert values["Lectures stockées"] == "500" and values["Lots"] == "5"
    assert values["Lectures/s (moyenne)"] == fr1(5 * KPI_ROWS / 3600)
    assert values["Pic par minute"] == "500"  # the 5 batches fall in the same minute
    # Freshness of the Fort-de-France sensors only (the commune filter came from the URL).
    assert at.sidebar.multiselect(key="sb_communes").value == ["Fort-de-France"]
    caption = next(c.value for c in at.caption if "capteurs (filtres de la barre latérale)" in c.value)
    assert caption.startswith(f"{len(FDF)} capteurs") and "0 n'ont jamais envoyé de lecture" in caption
    freshness = at.dataframe[1].value
    assert len(freshness) == len(FDF) and set(freshness["Commune"]) == {"Fort-de-France"}
    # Quarantine by reason, with samples whose control characters are escaped.
    assert values["Messages en quarantaine"] == str(sum(QUARANTINE.values()))
    assert values["Motifs distincts"] == str(len(QUARANTINE))
    counts = at.dataframe[2].value.set_index("Motif")
    assert counts.loc["capteur inconnu (unknown_sensor)", "Messages"] == "3"
    assert counts.loc["hors de la plage physique (out_of_range)", "Messages"] == "2"
    samples = at.dataframe[3].value
    assert len(samples) == sum(QUARANTINE.values())
    payload = samples["Contenu (échappé, tronqué)"].iloc[0]
    assert payload.endswith("\\n\\t<b>x</b>") and "\n" not in payload
    assert len(at.get("plotly_chart")) == 4  # latency, throughput, freshness, quarantine


def test_samples_of_one_reason(seeded, app_env):
    at = app_env(seeded, {"range": "1h"})
    at.selectbox(key="pipeline_reason_w_fr").set_value("out_of_range").run()
    assert not at.exception, at.exception
    samples = at.dataframe[3].value
    assert set(samples["Motif"]) == {"hors de la plage physique (out_of_range)"} and len(samples) == 2


def test_english_labels(seeded, app_env):
    at = app_env(seeded, {"range": "1h", "lang": "en"})
    assert not at.exception, at.exception
    subheaders = ["Latency per stage", "Throughput", "Freshness per sensor", "Quarantine", "Ingestion"]
    assert [s.value for s in at.subheader] == subheaders
    latency = at.dataframe[0].value
    assert list(latency["Stage"]) == ["Source → broker", "Broker → processor", "Processor → database", "End to end"]
    assert cards(at)["Readings stored"] == "500" and cards(at)["Messages quarantined"] == "5"
    assert "unknown sensor (unknown_sensor)" in list(at.dataframe[2].value["Reason"])


def test_no_data_in_range(seeded, app_env):
    at = app_env(seeded, {"range": "custom", "from": "2020-01-01T08:00", "to": "2020-01-02T08:00"})
    assert not at.exception, at.exception
    infos = [i.value for i in at.info]
    assert any("Aucune mesure de latence sur la période" in i for i in infos)
    assert any("Aucun lot enregistré sur la période" in i for i in infos)
    assert any("Aucun message mis en quarantaine sur la période" in s.value for s in at.success)
    assert any("mêmes percentiles que `get_pipeline_latency_stats`" in c.value for c in at.caption)


def test_empty_database_says_so(pg_cluster, db_name, app_env):
    at = app_env(pg_cluster.url(db_name), {"range": "1h"})
    assert not at.exception, at.exception
    infos = [i.value for i in at.info]
    assert any("la base est vide" in i for i in infos)
    assert any("Aucun de ces capteurs n'a encore envoyé de lecture" in i for i in infos)


def test_unreachable_database(app_env):
    from tests.support.services import free_port

    at = app_env(f"postgresql://postgres@127.0.0.1:{free_port()}/madinina", {"range": "1h"})
    assert not at.exception, at.exception
    assert any("Base de données injoignable" in e.value for e in at.error)
