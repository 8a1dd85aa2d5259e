"""Spark reads the Delta medallion's Parquet files (the current version's, from the Delta log) and finds what the
database holds: same rows, same values, partitions as columns — after a merge and a compaction left replaced files
on disk."""

from __future__ import annotations

import time

import pytest

from ingestion.archive.lake import LakeArchiver, LakeConfig, spark_read
from ingestion.archive.source import Source
from tests.integration.test_spark_job import _java_available
from tests.support.archive_seed import seed_history
from tests.support.services import require

pytestmark = pytest.mark.spark


def test_spark_reads_silver_and_gold_as_the_database_has_them(db_url, conn, tmp_path):
    require(_java_available(), "Java 17 (Debian package openjdk-17-jre-headless)")
    from pyspark.sql import functions as F

    from ingestion.spark.job import local_session

    end = time.time() - 600
    seed_history(db_url, hours=1, end=end - 1800)
    source = Source(db_url, lag_s=0)
    config = LakeConfig(root=tmp_path / "lake", compact_files=1)
    LakeArchiver(source, config, progress=lambda _: None).run()
    seed_history(db_url, hours=0.5, end=end)  # windows updated (gold merge) and partitions compacted: stale files
    LakeArchiver(source, config, progress=lambda _: None).run()
    source.close()

    with conn.cursor() as cur:
        cur.execute(
            "SELECT d.sensor_id, d.metric, (extract(epoch FROM d.time) * 1000000)::bigint, d.value, s.kind,"
            " to_char(d.time AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM sensor_data d JOIN sensors s USING (sensor_id)"
        )
        raw = {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in cur.fetchall()}
        cur.execute(
            "SELECT sensor_id, metric, (extract(epoch FROM window_start) * 1000000)::bigint,"
            " (extract(epoch FROM window_end) * 1000000)::bigint, avg, count FROM sensor_data_agg"
        )
        windows = {(r[0], r[1], r[2], r[3]): (r[4], r[5]) for r in cur.fetchall()}

    spark = local_session(2)
    silver = spark_read(spark, config.root, "silver").select(
        "sensor_id", "metric", F.unix_micros("time").alias("t"), "value", "kind", "day"
    )
    got = {(r.sensor_id, r.metric, r.t): (r.value, r.kind, r.day) for r in silver.collect()}
    assert silver.count() == len(raw)  # no row read twice
    assert got == raw
    gold = spark_read(spark, config.root, "gold").select(
        "sensor_id", "metric", F.unix_micros("window_start").alias("s"), F.unix_micros("window_end").alias("e"),
        "avg", "count",
    )  # fmt: skip
    got = {(r.sensor_id, r.metric, r.s, r.e): (r.avg, r["count"]) for r in gold.collect()}
    assert gold.count() == len(windows)
    assert got.keys() == windows.keys()
    assert all(abs(got[k][0] - v[0]) < 1e-9 and got[k][1] == v[1] for k, v in windows.items())
