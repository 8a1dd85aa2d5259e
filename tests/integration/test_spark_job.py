"""The Spark job on a local[2] session and real PostgreSQL, files source: the same tables as the lite processor on
the same input (every validation branch), late data merged as the lite processor merges it, the catalogue read
from the database while running. Stops, restarts and checkpoints: test_spark_restart.py; Kafka: test_spark_kafka.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from ingestion.catalogue import SENSORS
from ingestion.simulator import FaultConfig
from ingestion.validation import REASONS, Validator
from tests.data.spark_corpus import every_branch
from tests.support.services import wait_for
from tests.support.spark import (
    LEDGER_SQL,
    assert_same_tables,
    batch_log,
    file_lines,
    java_available,
    local_spark,
    no_double_kpi,
    rows,
    run_lite,
    run_spark,
    simulated_files,
    write_lines,
)

# Generous bounds: a JVM and its Python workers start in ~15 s on an idle host, in minutes on one loaded 10x over.
pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
_java_available = java_available  # tests/integration/test_archive_lake_spark.py imports it from here


@pytest.fixture(scope="module")
def spark():
    return local_spark(2)


def spark_db(pg_cluster) -> str:
    return pg_cluster.url(pg_cluster.fresh_database())


def test_same_input_same_tables_as_the_lite_processor(spark, pg_cluster, db_url, tmp_path):
    """Simulated input with faults (late, duplicates, malformed, spikes, stuck values; three shapes), then a file
    holding a message of every validation branch (tests/data/spark_corpus.py): the same sensor_data,
    sensor_latest, sensor_data_agg, quarantine and ledger counts on both sides, reconciled with what was sent."""
    faults = FaultConfig(
        late_rate=0.02, max_late_s=600, duplicate_rate=0.02, malformed_rate=0.01, spike_rate=0.01, stuck_rate=0.01
    )
    landing = tmp_path / "landing"
    files = simulated_files(landing, ticks=48, per_file=8, faults=faults)  # 8 minutes, 6 files
    corpus = every_branch()
    files.append(write_lines(landing, len(files), corpus))
    lite = run_lite(files, db_url)
    spark_dsn = spark_db(pg_cluster)
    # Small input splits, so that several tasks commit each micro-batch concurrently, as on large input.
    splits = {"spark.sql.files.maxPartitionBytes": "256k", "spark.sql.files.openCostInBytes": "16k"}
    for key, value in splits.items():
        spark.conf.set(key, value)
    try:
        totals = run_spark(spark, spark_dsn, tmp_path / "checkpoint", path=str(landing))
    finally:
        for key in splits:
            spark.conf.unset(key)

    sizes = assert_same_tables(db_url, spark_dsn)
    assert sizes["raw"] > 5_000 and sizes["agg"] > 1_000
    # Reconciled with what was sent, counted here: every message once, every reading the validator makes of the
    # messages stored or a duplicate, every rejection quarantined or a repeat.
    sent = [line for path in files for line in file_lines(path)]
    assert len(sent) == sum(len(file_lines(p)) for p in files) and corpus[0] in sent
    validator = Validator(source="files")
    results = [validator.parse(line) for line in sent]
    readings = sum(len(r.readings) for r in results)
    rejections = sum(len(r.rejections) for r in results)
    received, stored, duplicates, quarantined, repeats = rows(spark_dsn, LEDGER_SQL)[0]
    assert received == len(sent) == lite.totals.received == totals.received
    assert stored + duplicates == readings and quarantined + repeats == rejections
    assert rows(db_url, LEDGER_SQL) == rows(spark_dsn, LEDGER_SQL)  # the same counts, whatever the batching
    assert (totals.stored, totals.quarantined) == (stored, quarantined) == (sizes["raw"], lite.totals.quarantined)
    assert totals.by_reason == dict(lite.totals.by_reason)
    # Every branch was taken: each reason of REASONS (but the two that are no validator's) was given.
    reasons = {r for (r,) in rows(spark_dsn, "SELECT DISTINCT reason FROM quarantine")}
    assert set(REASONS) - {"internal_error", "write_failed"} <= reasons
    # The same quarantine, text for text (the same Validator made it on both sides), but for how far in the future
    # a time was: measured from each processor's own reception instant.
    quarantine = "SELECT reason, regexp_replace(detail, '\\d+s in the future', 'Ns in the future'), payload, source"
    quarantine += " FROM quarantine ORDER BY 1, 2, 3"
    assert rows(db_url, quarantine) == rows(spark_dsn, quarantine)
    # The job's durable logs match the data: micro-batches and KPIs, once each.
    log = batch_log(spark_dsn)
    assert [b[0] for b in log] == list(range(len(files))) and sum(b[2] for b in log) == sizes["raw"]
    assert no_double_kpi(spark_dsn)
    stages = rows(spark_dsn, "SELECT DISTINCT stage, processor FROM pipeline_kpi ORDER BY 1")
    assert ("end_to_end", "spark") in stages and ("processor_to_db", "spark") in stages
    assert totals.tasks >= 2 * len(files)  # several tasks committed each micro-batch


def test_late_data_is_merged_into_its_windows_as_by_the_lite_processor(spark, pg_cluster, tmp_path):
    sid = next(s.sensor_id for s in SENSORS if s.kind == "noise")

    def msg(hms: str, value: float) -> str:
        return (
            f'{{"timestamp": "2026-10-27T{hms}Z", "sensor_id": "{sid}", "metric": "noise", "value": {value}, '
            '"unit": "dB(A)"}'
        )

    landing = tmp_path / "landing"
    files = [
        write_lines(landing, 0, [msg("09:00:10", 60), msg("09:00:20", 62)]),
        write_lines(landing, 1, [msg("09:10:00", 50)]),
        write_lines(landing, 2, [msg("09:10:05", 51)]),
        write_lines(landing, 3, [msg("09:09:00", 55), msg("09:00:30", 64)]),  # 1 and 9.5 minutes late
        write_lines(landing, 4, [msg("09:00:30", 64)]),  # and a late duplicate
    ]
    dsn = spark_db(pg_cluster)
    run_spark(spark, dsn, tmp_path / "checkpoint", path=str(landing))
    raw = rows(dsn, "SELECT to_char(time, 'HH24:MI:SS'), value FROM sensor_data ORDER BY time")
    assert raw == [("09:00:10", 60), ("09:00:20", 62), ("09:00:30", 64), ("09:09:00", 55), ("09:10:00", 50),
                   ("09:10:05", 51)]  # fmt: skip

    def window(size: str, start: str) -> tuple:
        return rows(
            dsn,
            "SELECT count, avg FROM sensor_data_agg WHERE window_end - window_start = %s::interval"
            " AND window_start = %s::timestamptz",
            (size, f"2026-10-27T{start}Z"),
        )[0]

    # The late readings are in every window that contains them, the duplicate counted once.
    assert window("1 minute", "09:00:00") == (3, 62.0)
    assert window("5 minutes", "08:56:00") == (3, 62.0)
    assert window("1 hour", "09:00:00") == (6, (60 + 62 + 64 + 55 + 50 + 51) / 6)
    # Exactly what the lite processor writes from the same files.
    lite = pg_cluster.url(pg_cluster.fresh_database())
    run_lite(files, lite)
    assert_same_tables(lite, dsn)


def test_a_sensor_an_operator_adds_is_accepted_without_a_restart(spark, pg_cluster, tmp_path):
    """The job validates with the database's catalogue of the moment, as the lite consumer does: a message of
    a sensor nobody registered is quarantined; the operator adds the sensor while the query runs; the same
    sensor's next message is stored. The query is never restarted."""
    from ingestion.registry import add_sensor, set_sensor_active
    from ingestion.spark.job import JobConfig, start, stop_gracefully

    dsn = spark_db(pg_cluster)
    landing = tmp_path / "landing"
    new_id, old_id = "op-added-01", next(s.sensor_id for s in SENSORS if s.kind == "noise")

    def msg(sensor_id: str, minute: int, value: float) -> str:
        return (
            f'{{"timestamp": "2026-10-27T09:0{minute}:00Z", "sensor_id": "{sensor_id}", "metric": "noise", '
            f'"value": {value}}}'
        )

    write_lines(landing, 0, [msg(new_id, 0, 50), msg(old_id, 0, 60)])
    config = JobConfig(source="files", path=str(landing), max_files_per_trigger=1, checkpoint=str(tmp_path / "ck"),
                       trigger="0 seconds", database_url=dsn)  # fmt: skip
    query, sink = start(spark, config)
    try:
        wait_for(lambda: rows(dsn, "SELECT count(*) FROM sensor_data")[0][0] == 1, 600, "the first micro-batch")
        conn = psycopg2.connect(dsn)
        try:
            assert add_sensor(conn, sensor_id=new_id, name="Added by an operator", kind="noise",
                              commune="Fort-de-France", insee="97209", latitude=14.6, longitude=-61.07,
                              expected_interval_s=60)  # fmt: skip
            assert set_sensor_active(conn, old_id, False)
        finally:
            conn.close()
        write_lines(landing, 1, [msg(new_id, 1, 51), msg(old_id, 1, 61)])
        count = "SELECT (SELECT count(*) FROM sensor_data) + (SELECT count(*) FROM quarantine)"
        wait_for(lambda: rows(dsn, count) == [(4,)], 600, "the second micro-batch")
    finally:
        stop_gracefully(query, 30, sink)
        sink.close()
    assert query.exception() is None or sink.refused
    assert rows(dsn, "SELECT sensor_id, value FROM sensor_data ORDER BY value") == [(new_id, 51.0), (old_id, 60.0)]
    rejected = rows(dsn, "SELECT reason, payload FROM quarantine ORDER BY received_at")
    assert [(reason, new_id in payload, old_id in payload) for reason, payload in rejected] == [
        ("unknown_sensor", True, False),  # before the operator added it
        ("unknown_sensor", False, True),  # deactivated meanwhile
    ]


def test_kafka_source_without_the_connector_is_a_clear_error(spark, pg_cluster, tmp_path):
    from ingestion.spark.sources import KafkaConfig, KafkaConnectorMissing, kafka_source

    with pytest.raises(KafkaConnectorMissing, match="spark-submit --packages org.apache.spark:spark-sql-kafka"):
        kafka_source(spark, KafkaConfig(bootstrap_servers="127.0.0.1:1"))
    # The CLI says it in one line, without a traceback.
    result = subprocess.run(
        [sys.executable, "-m", "ingestion", "spark", "run", "--source", "kafka", "--checkpoint", str(tmp_path / "ck"),
         "--database-url", spark_db(pg_cluster), "--master", "local[1]", "--conf", "spark.ui.enabled=false"],
        cwd=ROOT, env={**os.environ, "SPARK_LOG_LEVEL": "ERROR"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: Spark has no Kafka source" in result.stderr and "Traceback" not in result.stderr
    assert "--source kafka-python" in result.stderr
