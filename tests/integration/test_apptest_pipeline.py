"""The Pipeline page in Streamlit's AppTest on real PostgreSQL: stage latencies equal to the percentiles of the
seeded pipeline_kpi samples (get_pipeline_latency_stats), throughput counting each batch once, freshness of the
sensors of the sidebar's filters (restored from the URL), quarantine counts by reason with escaped samples, English
labels, and clear messages for no data in the range, an empty database and an unreachable one."""

import base64
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from babel.dates import format_datetime

from components.csv_export import read_export
from components.formatting import TZ
from components.pipeline_panels import STATE_COLORS
from ingestion.catalogue import SENSORS
from tests.support.apptest import page_runner, restore_shipped_settings
from tests.support.page_seed import (
    BACKFILL_READINGS,
    KPI_MESSAGES,
    KPI_MS,
    KPI_ROWS,
    QUARANTINE,
    SPARK_BATCHES,
    percentile_cont,
    pinned_now,
    seed_history,
    seed_pipeline,
)

FDF = [s.sensor_id for s in SENSORS if s.commune == "Fort-de-France"]
STAGES_FR = {
    "source_to_broker": "Source → broker",
    "broker_to_processor": "Broker → traitement",
    "processor_to_db": "Traitement → base",
    "end_to_end": "De bout en bout",
}
KEYS = ("pipeline_latency", "pipeline_latency_time", "pipeline_throughput_0", "pipeline_throughput_1")
KEYS += ("pipeline_freshness", "pipeline_quarantine")
SPARK_STORED = sum(stored for stored, _ in SPARK_BATCHES)
STORED = 5 * KPI_ROWS + BACKFILL_READINGS + SPARK_STORED


@pytest.fixture
def now():
    """The instant the dashboard clock is pinned at for this test (tests.support.page_seed.pinned_now); seeds follow
    it."""
    return pinned_now()


@pytest.fixture
def app_env(monkeypatch, now):
    """start(url, params) -> the page after one run (the shared AppTest harness: real sidebar, pinned clock)."""

    def start(url: str, params: dict | None = None):
        return page_runner(url, now, monkeypatch)("pipeline", params or {})

    yield start
    restore_shipped_settings()


@pytest.fixture
def seeded(pg_cluster, db_name, conn, now):
    url = pg_cluster.url(db_name)
    seed_history(url, hours=1, now=now)  # readings (no KPI, no ledger: written without timings)
    seed_pipeline(conn, now)
    return url


def cards(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def fr1(value: float) -> str:
    return f"{value:,.1f}".replace(",", "\u202f").replace(".", ",")


def values_of(array) -> list:
    """A Plotly JSON array: a plain list, or a typed array ({"dtype", "bdata"}: base64 of the raw values)."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def figures(at) -> dict[str, dict]:
    """The page's Plotly figures as drawn (JSON specs), by the key the page gives each chart."""
    charts = {}
    for chart in at.get("plotly_chart"):
        key = next(k for k in KEYS if chart.proto.id.endswith(k))
        charts[key] = json.loads(chart.proto.spec)
    return charts


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
    # Throughput from every processor's own batch records: 5 lite batches (ledger), 1 backfill batch, 2 Spark
    # micro-batches; messages only from the lite consumers.
    values = cards(at)
    assert values["Lectures stockées"] == f"{STORED:,}".replace(",", "\u202f")
    assert values["Messages reçus"] == str(5 * KPI_MESSAGES)
    assert values["Lectures/s (moyenne)"] == f"{STORED / 3600:.2f}".replace(".", ",")  # < 10: two decimals
    assert values["Pic lectures/s"] == fr1(BACKFILL_READINGS / 60)
    charts = figures(at)
    readings, messages = charts["pipeline_throughput_0"], charts["pipeline_throughput_1"]
    per_series = {tr["name"]: round(sum(values_of(tr["y"])) * 60) for tr in readings["data"]}
    assert per_series == {
        "Léger · MQTT (consume)": 5 * KPI_ROWS,
        "Backfill (historique)": BACKFILL_READINGS,
        "Spark (micro-lots)": SPARK_STORED,
    }
    minutes = 61  # the range [now - 1 h, now) starts and ends mid-minute (pinned_now): 61 minutes it touches
    assert all(len(values_of(tr["y"])) == minutes for tr in readings["data"])  # zeros included
    assert {tr["name"]: round(sum(values_of(tr["y"])) * 60) for tr in messages["data"]} == {
        "Léger · MQTT (consume)": 125
    }
    assert readings["layout"]["yaxis"]["title"]["text"] == "Lectures stockées/s (moyenne par 1\u00a0min)"
    assert messages["layout"]["yaxis"]["title"]["text"] == "Messages reçus/s (moyenne par 1\u00a0min)"
    # Freshness of the Fort-de-France sensors only (the commune filter came from the URL).
    assert at.sidebar.multiselect(key="sb_communes").value == ["Fort-de-France"]
    caption = next(c.value for c in at.caption if "capteurs (filtres de la barre latérale)" in c.value)
    assert caption.startswith(f"{len(FDF)} capteurs") and "0 jamais reçus" in caption
    freshness = at.dataframe[1].value
    assert sorted(c.rsplit("(", 1)[1].rstrip(")") for c in freshness["Capteur"]) == sorted(FDF)
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
    assert set(charts) == set(KEYS)  # latency bars and over time, readings/s, messages/s, freshness, quarantine
    # Latency over time: the p95 of the seeded end-to-end samples, all in one minute of the hour.
    over_time = {
        tr["name"]: [v for v in values_of(tr["y"]) if v == v] for tr in charts["pipeline_latency_time"]["data"]
    }
    assert over_time["De bout en bout"] == [percentile_cont(KPI_MS["end_to_end"], 0.95)]


def test_freshness_worst_first_with_the_legend_of_the_strip_colours(seeded, conn, app_env, now):
    interval = next(s.expected_interval_s for s in SENSORS if s.sensor_id == FDF[1])
    late = max(30 * interval, 600)  # offline: older than max(20 x interval, 120 s)
    with conn.cursor() as cur:  # FDF[2] never reported, FDF[1] offline; the others as seeded (minute steps)
        cur.execute("DELETE FROM sensor_latest WHERE sensor_id = %s", (FDF[2],))
        cur.execute("UPDATE sensor_latest SET time = %s WHERE sensor_id = %s", (now - timedelta(seconds=late), FDF[1]))
    at = app_env(seeded, {"range": "1h", "commune": "Fort-de-France"})
    assert not at.exception, at.exception
    table = at.dataframe[1].value
    assert list(table["État"])[:2] == ["jamais reçu", "hors ligne"]
    assert table["Capteur"].iloc[0].endswith(f"({FDF[2]})") and table["Capteur"].iloc[1].endswith(f"({FDF[1]})")
    assert table["Âge / intervalle"].iloc[1] == "× " + fr1(late / interval)
    rest = table.iloc[2:]
    rank = {"en retard": 0, "en ligne": 1}
    lateness = [float(v[2:].replace("\u202f", "").replace(",", ".")) for v in rest["Âge / intervalle"]]
    keys = [(rank[s], -v) for s, v in zip(rest["État"], lateness, strict=True)]
    assert keys == sorted(keys)  # worst state first, then the latest for its own interval
    counts = {s: int((table["État"] == s).sum()) for s in ("jamais reçu", "hors ligne", "en retard", "en ligne")}
    strip = figures(at)["pipeline_freshness"]
    cells, *legend = strip["data"]
    assert cells["z"][0][:2] == [0, 1]  # never, offline: reading order
    scale = dict((round(edge * 4), colour) for edge, colour in cells["colorscale"][::2])
    colours = {tr["name"]: tr["marker"]["color"] for tr in legend}
    for i, state in enumerate(("jamais reçu", "hors ligne", "en retard", "en ligne")):
        assert colours[f"{state} ({counts[state]})"] == scale[i]
    assert scale[0] == STATE_COLORS["never"] and scale[1] == STATE_COLORS["offline"]


def test_dated_axis_over_days(seeded, app_env, now):
    for lang, day in (("fr", "EEE d MMM"), ("en", "EEE d MMM")):
        at = app_env(seeded, {"range": "7d", "lang": lang})
        assert not at.exception, at.exception
        axis = figures(at)["pipeline_throughput_0"]["layout"]["xaxis"]
        midnight = now.astimezone(ZoneInfo(TZ)).replace(hour=0, minute=0, second=0)
        expected = format_datetime(midnight.replace(tzinfo=None), day, locale="fr_MQ" if lang == "fr" else "en_GB")
        assert expected in axis["ticktext"], (expected, axis["ticktext"])
        assert len(axis["ticktext"]) <= 8 and axis["hoverformat"] == "%d/%m/%Y %H:%M"


def test_quarantine_csv_of_the_samples_shown(seeded, app_env):
    at = app_env(seeded, {"range": "1h"})
    at.button(key="pipeline_csv_prepare").click().run()
    assert not at.exception, at.exception
    header, rows = read_export(at.session_state["pipeline_csv"]["payload"])
    assert header["reason"] == "all" and header["range"].endswith("[start, end) America/Martinique")
    assert len(rows) == sum(QUARANTINE.values()) == len(at.dataframe[3].value)
    assert set(rows["reason"]) == set(QUARANTINE)
    assert all(v.endswith("-04:00") for v in rows["received_at"])
    assert all(p.endswith("\\n\\t<b>x</b>") for p in rows["payload"])  # escaped as shown


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
    assert cards(at)["Readings stored"] == f"{STORED:,}" and cards(at)["Messages quarantined"] == "5"
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
