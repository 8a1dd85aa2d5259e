"""What only the TimescaleDB branch has, on the real extension: chunk interval, compression settings and
policies (from the environment), the writer on compressed chunks, and a plain data directory switching to
TimescaleDB on its next start."""

import shutil
import uuid
from datetime import UTC, datetime

import pandas as pd
import psycopg2
import pytest

from db.embedded import EmbeddedPostgres
from db.migrate import MigrationError, migrate, timescaledb_enabled
from ingestion.simulator import Simulator
from ingestion.writer import Batch, Writer
from tests.integration.test_agg_indexes import AGG_AND_RAW_INDEXES
from tests.support.postgres import TIMESCALEDB_VERSION, timescaledb_available
from tests.support.services import free_port, require

DAY = 86400.0
# Old enough that every chunk is past the default compress_after (7 days) whatever today's date.
OLD_END = datetime(2026, 1, 10, tzinfo=UTC).timestamp()


def _one(url: str, sql: str, params=()):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def _jobs(url: str) -> dict[str, dict]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT proc_name, config FROM timescaledb_information.jobs WHERE hypertable_name = 'sensor_data' "
            "ORDER BY 1"
        )
        return dict(cur.fetchall())


def _rows(url: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT time, sensor_id, metric, value, status FROM sensor_data ORDER BY 2, 3, 1")
        return cur.fetchall()


def _sent(frame: pd.DataFrame) -> list[tuple]:
    """What the sender sent, in the order of _rows (the status is the writer's; compared separately)."""
    rows = [
        (t.to_pydatetime(), s, m, float(v)) for t, s, m, v in frame[["time", "sensor_id", "metric", "value"]].values
    ]
    return sorted(rows, key=lambda r: (r[1], r[2], r[0]))


@pytest.fixture
def tsdb_url(timescale_cluster):
    return timescale_cluster.url(timescale_cluster.fresh_database())


def test_the_branch_is_the_real_extension_with_its_settings(tsdb_url):
    assert _one(tsdb_url, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'") == (TIMESCALEDB_VERSION,)
    assert _one(tsdb_url, "SHOW timescaledb.telemetry_level") == ("off",)
    with psycopg2.connect(tsdb_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT hypertable_name, time_interval FROM timescaledb_information.dimensions ORDER BY hypertable_name"
        )
        intervals = dict(cur.fetchall())
        cur.execute(
            "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc "
            "FROM timescaledb_information.compression_settings WHERE hypertable_name = 'sensor_data' ORDER BY 1"
        )
        settings = {r[0]: r[1:] for r in cur.fetchall()}
    assert str(intervals["sensor_data"]) == "6:00:00"
    assert str(intervals["sensor_data_agg"]) == "7 days, 0:00:00"
    assert settings == {"sensor_id": (1, None, None), "metric": (2, None, None), "time": (None, 1, False)}
    jobs = _jobs(tsdb_url)
    assert set(jobs) == {"policy_compression"}  # no retention unless asked for
    assert jobs["policy_compression"]["compress_after"] == "7 days"


def test_policies_follow_the_environment(timescale_cluster, monkeypatch):
    url = timescale_cluster.url(timescale_cluster.fresh_database(migrated=False))
    monkeypatch.setenv("MADININA_COMPRESS_AFTER", "2 days")
    monkeypatch.setenv("MADININA_RAW_RETENTION", "90 days")
    migrate(url)
    jobs = _jobs(url)
    assert jobs["policy_compression"]["compress_after"] == "2 days"
    assert jobs["policy_retention"]["drop_after"] == "90 days"
    monkeypatch.setenv("MADININA_COMPRESS_AFTER", "off")
    monkeypatch.delenv("MADININA_RAW_RETENTION")
    assert migrate(url) == []  # nothing new to apply; the policies are still set again
    assert _jobs(url) == {}
    monkeypatch.setenv("MADININA_COMPRESS_AFTER", "-1 day")
    with pytest.raises(MigrationError, match="compress_after must be positive"):
        migrate(url)


def test_the_compression_job_compresses_old_chunks_and_keeps_every_reading(tsdb_url):
    frame = pd.concat(list(Simulator(seed=4).history(OLD_END - 1 * DAY, OLD_END, step_s=900)))
    with Writer(tsdb_url) as writer:
        assert writer.write(frame).stored == len(frame)
    before = _rows(tsdb_url)
    (job_id,) = _one(tsdb_url, "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'")
    conn = psycopg2.connect(tsdb_url)
    conn.autocommit = True  # run_job commits per chunk: not inside a transaction block
    with conn.cursor() as cur:
        cur.execute("CALL run_job(%s)", (job_id,))
    conn.close()
    compressed, total = _one(
        tsdb_url,
        "SELECT count(*) FILTER (WHERE is_compressed), count(*) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'sensor_data'",
    )
    assert total >= 4 and compressed == total  # a day in 6-hour chunks, all older than 7 days
    after = _rows(tsdb_url)
    assert after == before
    assert [r[:4] for r in after] == _sent(frame)


def test_the_writer_on_compressed_chunks_stays_idempotent_and_takes_late_readings(tsdb_url):
    history = list(Simulator(seed=5).history(OLD_END - 3600, OLD_END, step_s=60))
    frame = pd.concat(history)
    early, late = frame[frame["time"] < frame["time"].max()], frame[frame["time"] == frame["time"].max()]
    with Writer(tsdb_url) as writer:
        writer.write(early)
    with psycopg2.connect(tsdb_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(compress_chunk(c)) FROM show_chunks('sensor_data') c")
        assert cur.fetchone()[0] >= 1
    with Writer(tsdb_url) as writer:
        replay = writer.commit(Batch(frame=early, rejections=[], received=len(early), source="test"))
        assert (replay.stored, replay.duplicates) == (0, len(early))
        arrived = writer.commit(Batch(frame=late, rejections=[], received=len(late), source="test"))
        assert (arrived.stored, arrived.duplicates) == (len(late), 0)
    assert [r[:4] for r in _rows(tsdb_url)] == _sent(frame)
    ledger = _one(tsdb_url, "SELECT sum(received), sum(stored), sum(duplicates) FROM ingest_ledger")
    assert ledger == (len(frame), len(late), len(early))
    # The late minute's 1-minute windows count exactly its readings.
    agg = _one(
        tsdb_url,
        "SELECT sum(count) FROM sensor_data_agg WHERE window_end - window_start = interval '1 minute' "
        "AND window_start = date_bin('1 minute', %s::timestamptz, timestamptz 'epoch')",
        (late["time"].iloc[0].to_pydatetime(),),
    )
    assert agg == (len(late),)


def test_a_plain_data_directory_switches_to_timescaledb_on_its_next_start(output_dir):
    require(timescaledb_available(), "TimescaleDB (scripts/setup.sh builds it from ../shared/vendor)")
    # Under test-output/ (the postgres user must reach it; pytest's tmp_path is private to root).
    data_dir, port = output_dir / f"switch-{uuid.uuid4().hex[:8]}" / "pgdata", free_port()
    plain = EmbeddedPostgres(data_dir=data_dir, port=port, timescaledb=False)
    frame = pd.concat(list(Simulator(seed=6).history(OLD_END - 2 * DAY, OLD_END, step_s=1800)))
    try:
        dsn = plain.start()
        migrate(dsn)
        assert not timescaledb_enabled(dsn)
        with Writer(dsn) as writer:
            writer.write(frame)
    finally:
        plain.stop()
    # Same directory, the default choice (TimescaleDB, since it is installed): preload on, then migrate converts.
    upgraded = EmbeddedPostgres(data_dir=data_dir, port=port)
    try:
        dsn = upgraded.start()
        assert "timescaledb" in _one(dsn, "SHOW shared_preload_libraries")[0]
        assert not timescaledb_enabled(dsn)  # not yet: the migration runner creates it
        assert migrate(dsn) == []
        assert timescaledb_enabled(dsn)
        assert _one(dsn, "SELECT count(*) FROM timescaledb_information.hypertables") == (2,)
        assert _one(dsn, "SELECT count(*) FROM ONLY sensor_data") == (0,)  # rows moved into chunks
        assert [r[:4] for r in _rows(dsn)] == _sent(frame)
        # the migrations' indexes only, as on plain PostgreSQL: no default time index added by the conversion
        assert _one(
            dsn,
            "SELECT array_agg(indexname ORDER BY indexname) FROM pg_indexes"
            " WHERE tablename IN ('sensor_data', 'sensor_data_agg')",
        ) == (AGG_AND_RAW_INDEXES,)
    finally:
        upgraded.stop()
    shutil.rmtree(data_dir.parent)
