"""The Delta medallion on the real PostgreSQL: what deltalake reads back equals the database for the same rows
(silver = sensor_data, gold = sensor_data_agg, bronze = readings + quarantine), runs are incremental, a run that
died after committing is not doubled, windows updated by later readings are replaced, compaction keeps the data,
retention drops whole old days."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from ingestion.archive.lake import LakeArchiver, LakeConfig
from ingestion.archive.source import Source
from tests.support.archive_seed import seed_history, seed_rejections

# Two hours either side of the midnight before yesterday's: two day partitions, safely in the past.
MIDNIGHT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


def db_frame(conn, sql: str, params: tuple = ()) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(sql, params)
        cols = [c.name for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def lake_frame(root, name: str, columns: list[str]) -> pd.DataFrame:
    return DeltaTable(str(root / name)).to_pandas(columns=columns)


def same(lake: pd.DataFrame, db: pd.DataFrame, keys: list[str]) -> None:
    assert len(lake) == len(db)
    a = lake[db.columns].sort_values(keys).reset_index(drop=True)
    b = db.sort_values(keys).reset_index(drop=True)
    for col in db.columns:
        if pd.api.types.is_datetime64_any_dtype(a[col]) or isinstance(b[col].iloc[0], datetime):
            a[col] = pd.to_datetime(a[col], utc=True).dt.as_unit("us")
            b[col] = pd.to_datetime(b[col], utc=True).dt.as_unit("us")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


SILVER_SQL = (
    "SELECT to_char(d.time, 'YYYY-MM-DD') AS day, s.kind, d.time, d.sensor_id, d.metric, d.value, d.status,"
    " s.commune, d.ingested_at FROM sensor_data d JOIN sensors s USING (sensor_id)"
)
GOLD_SQL = (
    "SELECT to_char(a.window_start, 'YYYY-MM-DD') AS day, s.kind, a.window_start, a.window_end, a.sensor_id,"
    " a.metric, a.avg, a.min, a.max, a.count, a.stddev, a.updated_at FROM sensor_data_agg a JOIN sensors s USING (sensor_id)"
)
SILVER_KEYS = ["sensor_id", "metric", "time"]
GOLD_KEYS = ["sensor_id", "metric", "window_start", "window_end"]


def check_equal(conn, root) -> None:
    silver = db_frame(conn, SILVER_SQL)
    same(lake_frame(root, "silver", list(silver.columns)), silver, SILVER_KEYS)
    gold = db_frame(conn, GOLD_SQL)
    same(lake_frame(root, "gold", list(gold.columns)), gold, GOLD_KEYS)
    bronze = DeltaTable(str(root / "bronze")).to_pandas()
    stored = bronze[bronze.outcome == "stored"]
    raw = db_frame(conn, "SELECT sensor_id, metric, time, value, ingested_at AS committed_at FROM sensor_data")
    same(stored, raw, SILVER_KEYS)
    quarantined = bronze[bronze.outcome == "quarantined"]
    q = db_frame(conn, "SELECT quarantine_id, received_at, source, payload, reason, detail FROM quarantine")
    same(quarantined, q, ["quarantine_id"])


def test_medallion_round_trip_incremental_replay_safe_compacted(db_url, conn, tmp_path):
    start = MIDNIGHT.timestamp() - 2 * 3600
    seed_history(db_url, hours=3, end=start + 3 * 3600)
    seed_rejections(db_url, [("{not json", "invalid_json"), ('{"sensor_id": "x"}', "missing_field")])
    source = Source(db_url, lag_s=0)
    config = LakeConfig(root=tmp_path / "lake")
    written = LakeArchiver(source, config, progress=lambda _: None).run()
    check_equal(conn, config.root)
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM sensor_data), (SELECT count(*) FROM sensor_data_agg)")
        raw, windows = cur.fetchone()
    assert written == {"bronze": raw + 2, "silver": raw, "gold": windows}
    silver = DeltaTable(str(config.root / "silver"))
    assert {p["day"] for p in silver.partitions()} == {
        (MIDNIGHT - timedelta(days=1)).strftime("%Y-%m-%d"),
        MIDNIGHT.strftime("%Y-%m-%d"),
    }

    # The next hour, right after: new rows are appended, and the windows they reach into (5-min sliding, the
    # hour) are replaced in gold — the equality below would fail on a stale or doubled window.
    seed_history(db_url, hours=1, end=start + 4 * 3600)
    seed_rejections(db_url, [("\\x00\\xff", "invalid_encoding")])
    archiver = LakeArchiver(source, LakeConfig(root=config.root, compact_files=1), progress=lambda _: None)
    written = archiver.run()
    assert written["bronze"] == written["silver"] + 1 > 0
    check_equal(conn, config.root)
    # compact_files=1: every touched partition is down to one file, the data unchanged (checked above).
    actions = pa.table(DeltaTable(str(config.root / "silver")).get_add_actions(flatten=True)).to_pandas()
    touched = actions[actions["partition.day"] == MIDNIGHT.strftime("%Y-%m-%d")]
    assert touched.groupby("partition.kind").size().max() == 1

    # A run that dies after its Delta commits, before the watermark moves: the next run doubles nothing.
    seed_history(db_url, hours=0.5, end=start + 4.5 * 3600)

    def crash(*_a, **_k):
        raise RuntimeError("killed before the watermark moved")

    dying = Source(db_url, lag_s=0)
    dying.advance = crash
    with pytest.raises(RuntimeError, match="killed"):
        LakeArchiver(dying, config, progress=lambda _: None).run()
    dying.close()
    assert archiver.run()["silver"] == 0
    check_equal(conn, config.root)
    source.close()


def test_retention_drops_whole_old_days(db_url, conn, tmp_path):
    now = time.time()
    seed_history(db_url, hours=1, end=now - 3 * 86400)
    seed_history(db_url, hours=1, end=now - 600)
    source = Source(db_url, lag_s=0)
    config = LakeConfig(root=tmp_path / "lake", retain_days=2)
    LakeArchiver(source, config, progress=lambda _: None).run()
    cutoff = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d")
    for name in ("bronze", "silver", "gold"):
        days = {p["day"] for p in DeltaTable(str(config.root / name)).partitions()}
        assert days and min(days) >= cutoff, (name, days)
    silver = db_frame(conn, SILVER_SQL + " WHERE d.time >= %s::date", (cutoff,))
    same(lake_frame(config.root, "silver", list(silver.columns)), silver, SILVER_KEYS)
    source.close()
