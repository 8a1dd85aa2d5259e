"""data_access.pipeline on real PostgreSQL (read-only role), exact values: per-stage latency from
get_pipeline_latency_stats and over an explicit range, throughput per bucket counting each batch once, freshness
order, quarantine counts by reason and samples truncated in SQL, payload escaping."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from data_access import pipeline
from data_access.engine import make_engine
from ingestion.catalogue import SENSORS
from ingestion.writer import Writer

T = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
AQ = [s.sensor_id for s in SENSORS if s.kind == "air_quality"][:3]


def percentile_cont(values, q):
    values = sorted(values)
    pos = q * (len(values) - 1)
    lo = int(pos)
    return values[lo] + (values[min(lo + 1, len(values) - 1)] - values[lo]) * (pos - lo)


@pytest.fixture
def engine(pg_cluster, db_name):
    engine = make_engine(pg_cluster.url(db_name, user="madinina_reader"))
    yield engine
    engine.dispose()


def insert_kpi(conn, rows):
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pipeline_kpi (time, stage, latency_ms, rows, batch_id, processor) VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )


def test_stage_latency_from_the_sql_function_and_over_a_range(engine, conn):
    e2e = [120.0, 80.0, 300.0, 95.0, 1000.0, 110.0, 130.0]
    db = [5.0, 7.0, 6.0, 30.0, 4.0, 5.0, 6.0]
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        now = cur.fetchone()[0]
    recent = now - timedelta(minutes=10)
    rows = [(recent, "end_to_end", v, 10, f"b{i}", "lite") for i, v in enumerate(e2e)]
    rows += [(recent, "processor_to_db", v, 10, f"b{i}", "lite") for i, v in enumerate(db)]
    rows += [(now - timedelta(hours=2), "end_to_end", 99999.0, 10, "old", "lite")]  # outside the last hour
    insert_kpi(conn, rows)

    stats = pipeline.stage_latency(engine, seconds=3600).set_index("stage")
    assert list(stats.index) == list(pipeline.STAGES)
    assert stats.loc["source_to_broker", "samples"] == 0 and pd.isna(stats.loc["source_to_broker", "p95_ms"])
    assert stats.loc["end_to_end", "samples"] == 7
    for q, column in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        assert stats.loc["end_to_end", column] == pytest.approx(percentile_cont(e2e, q))
        assert stats.loc["processor_to_db", column] == pytest.approx(percentile_cont(db, q))
    assert stats.loc["end_to_end", "max_ms"] == 1000.0 and stats.loc["processor_to_db", "avg_ms"] == pytest.approx(9.0)

    three_hours = pipeline.stage_latency(engine, seconds=3 * 3600).set_index("stage")
    assert three_hours.loc["end_to_end", "samples"] == 8 and three_hours.loc["end_to_end", "max_ms"] == 99999.0

    ranged = pipeline.stage_latency(engine, start=now - timedelta(hours=3), end=now - timedelta(hours=1))
    ranged = ranged.set_index("stage")
    assert ranged.loc["end_to_end", "samples"] == 1 and ranged.loc["end_to_end", "p50_ms"] == 99999.0
    assert ranged.loc["processor_to_db", "samples"] == 0
    with pytest.raises(ValueError):
        pipeline.stage_latency(engine)

    series = pipeline.latency_series(engine, start=now - timedelta(hours=3), end=now, step_s=3600)
    e2e_now = series[(series["stage"] == "end_to_end") & (series["samples"] == 7)].iloc[0]
    assert e2e_now["p95_ms"] == pytest.approx(percentile_cont(e2e, 0.95))
    assert e2e_now["p50_ms"] == pytest.approx(percentile_cont(e2e, 0.5))
    old = series[series["time"] <= pd.Timestamp(now - timedelta(hours=2))]
    assert old[["stage", "samples", "p99_ms"]].values.tolist() == [["end_to_end", 1, 99999.0]]
    assert len(series) == 3  # (old e2e), (recent e2e), (recent db): one row per bucket and stage


def insert_ledger(conn, rows):
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ingest_ledger (batch_id, committed_at, processor, source, received, stored, duplicates,"
            " quarantined, quarantine_duplicates) VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 0)",
            rows,
        )


def test_throughput_from_every_processors_batch_records(engine, conn):
    insert_ledger(
        conn,
        [
            ("b1", T + timedelta(seconds=10), "lite", "mqtt", 30, 100),
            ("b2", T + timedelta(seconds=50), "lite", "mqtt", 12, 50),
            ("b3", T + timedelta(seconds=55), "lite", "kafka", 5, 20),
            ("b4", T + timedelta(minutes=10), "backfill", "backfill", 7000, 6990),
            ("before", T - timedelta(seconds=1), "lite", "mqtt", 1, 1000),  # outside the range
        ],
    )
    # KPI rows of b1 (four stages): not counted again, the ledger is the record of the batch
    insert_kpi(conn, [(T + timedelta(seconds=10), st, 1.0, 100, "b1", "lite") for st in pipeline.STAGES])
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO stream_batches (processor, query_id, batch_id, time, received, stored, duplicates,"
            " quarantined, late_dropped, windows) VALUES ('spark', 'q', 0, %s, 21, 20, 0, 1, 0, 0)",
            (T + timedelta(seconds=65),),
        )
    frame = pipeline.throughput(engine, start=T, end=T + timedelta(hours=1))
    assert frame[["time", "processor", "source", "readings", "received", "batches"]].values.tolist() == [
        [pd.Timestamp(T), "lite", "kafka", 20, 5, 1],
        [pd.Timestamp(T), "lite", "mqtt", 150, 42, 2],
        [pd.Timestamp(T + timedelta(minutes=1)), "spark", "spark", 20, 21, 1],
        [pd.Timestamp(T + timedelta(minutes=10)), "backfill", "backfill", 6990, 7000, 1],
    ]
    assert frame["readings_per_s"].iloc[1] == pytest.approx(2.5)
    assert frame["received_per_s"].iloc[1] == pytest.approx(0.7)
    five = pipeline.throughput(engine, start=T, end=T + timedelta(hours=1), step_s=300)
    assert five[["source", "readings"]].values.tolist() == [
        ["kafka", 20],
        ["mqtt", 150],
        ["spark", 20],
        ["backfill", 6990],
    ]
    assert pipeline.throughput(engine, start=T + timedelta(hours=2), end=T + timedelta(hours=3)).empty


def test_throughput_step_keeps_series_bounded():
    for span, step in (
        (timedelta(hours=1), 60),
        (timedelta(hours=24), 60),
        (timedelta(days=7), 300),
        (timedelta(days=30), 900),
        (timedelta(days=365), 3 * 3600),
    ):
        assert pipeline.throughput_step(T - span, T) == step
        assert span.total_seconds() / step <= 5000


def test_freshness_oldest_first(pg_cluster, db_name, engine):
    now = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime([now - timedelta(seconds=5), now - timedelta(minutes=30)], utc=True),
            "sensor_id": AQ[:2],
            "metric": ["pm10", "pm10"],
            "value": [10.0, 11.0],
        }
    )
    with Writer(pg_cluster.url(db_name)) as writer:
        writer.write(frame)
    fresh = pipeline.freshness(engine, sensor_ids=tuple(AQ), now=now)
    assert fresh["sensor_id"].tolist() == [AQ[2], AQ[1], AQ[0]]  # never seen, 30 min, 5 s
    assert fresh["status"].tolist() == ["offline", "offline", "online"]
    assert fresh["state"].tolist() == ["never", "offline", "online"]
    interval = {s.sensor_id: s.expected_interval_s for s in SENSORS}
    assert fresh["lateness"].iloc[1:].tolist() == [1800.0 / interval[AQ[1]], 5.0 / interval[AQ[0]]]
    assert fresh["age_s"].iloc[1:].tolist() == [1800.0, 5.0]
    assert len(pipeline.freshness(engine, now=now)) == len(SENSORS)


def test_quarantine_counts_and_truncated_samples(engine, conn):
    long_payload = '{"sensor_id": "x", "value": "' + "é" * 1000 + '"}'
    rows = [
        (T + timedelta(seconds=1), "mqtt", '{"bad json', "invalid_json", "Expecting value"),
        (
            T + timedelta(seconds=2),
            "mqtt",
            "not json\x07\n<script>alert(1)</script>",
            "invalid_json",
            "Expecting value",
        ),
        (T + timedelta(seconds=3), "kafka", "{}", "invalid_json", "x"),
        (T + timedelta(seconds=4), "mqtt", long_payload, "out_of_range", "value 1e9 > valid_max 2000"),
        (T + timedelta(seconds=5), "direct", '{"metric": "foo"}', "unknown_metric", "foo"),
        (T - timedelta(seconds=5), "mqtt", "old", "unknown_metric", "before the range"),
    ]
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO quarantine (received_at, source, payload, reason, detail, fingerprint)
               VALUES (%s, %s, %s, %s, %s, md5(random()::text))""",
            rows,
        )
    end = T + timedelta(hours=1)
    counts = pipeline.quarantine_counts(engine, start=T, end=end)
    assert counts[["reason", "messages", "sources"]].values.tolist() == [
        ["invalid_json", 3, "kafka, mqtt"],
        ["out_of_range", 1, "mqtt"],
        ["unknown_metric", 1, "direct"],
    ]
    assert counts["first_at"].iloc[0] == pd.Timestamp(T + timedelta(seconds=1))
    assert counts["last_at"].iloc[0] == pd.Timestamp(T + timedelta(seconds=3))

    samples = pipeline.quarantine_samples(engine, start=T, end=end, per_reason=2, max_chars=50)
    assert samples["reason"].tolist() == ["invalid_json", "invalid_json", "out_of_range", "unknown_metric"]
    assert samples["payload"].iloc[0] == "{}" and samples["payload"].iloc[1].startswith("not json\x07\n<script>")
    long = samples[samples["reason"] == "out_of_range"].iloc[0]
    assert len(long["payload"]) == 50 and long["payload_chars"] == len(long_payload)
    one = pipeline.quarantine_samples(engine, start=T, end=end, reason="unknown_metric")
    assert one["detail"].tolist() == ["foo"]

    shown = pipeline.escape_payload(samples["payload"].iloc[1], samples["payload_chars"].iloc[1])
    assert shown == "not json\\x07\\n<script>alert(1)</script>"
    cut = pipeline.escape_payload(long["payload"], long["payload_chars"], max_chars=30)
    assert cut == '{"sensor_id": "x", "value": "é… (+' + str(len(long_payload) - 30) + ")"
    assert pipeline.escape_payload("a\\b\u200b") == "a\\\\b\\u200b"
    assert pipeline.quarantine_counts(engine, start=end, end=end + timedelta(hours=1)).empty
