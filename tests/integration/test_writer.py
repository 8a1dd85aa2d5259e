import pandas as pd
import pytest

from ingestion.writer import BatchTimings, Writer


def frame(rows):
    return pd.DataFrame(
        {
            "time": pd.to_datetime([r[0] for r in rows], utc=True),
            "sensor_id": [r[1] for r in rows],
            "metric": [r[2] for r in rows],
            "value": [float(r[3]) for r in rows],
            "status": [r[4] if len(r) > 4 else "ok" for r in rows],
        }
    )


def table(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


BATCH = [
    ("2026-11-22T10:00:05Z", "s1", "pm10", 10),
    ("2026-11-22T10:00:35Z", "s1", "pm10", 30, "warning"),
    ("2026-11-22T10:01:10Z", "s1", "pm10", 50, "critical"),
    ("2026-11-22T10:00:10Z", "s2", "noise", 60),
]


def test_same_batch_twice_gives_the_same_rows(db_url, conn):
    with Writer(db_url) as writer:
        first = writer.write(frame(BATCH))
        snapshot = {t: table(conn, f"SELECT * FROM {t} ORDER BY 1, 2, 3") for t in ("sensor_data", "sensor_latest")}
        agg = table(
            conn,
            "SELECT window_start, window_end, sensor_id, metric, avg, min, max, count, stddev, "
            "n_warning, n_critical FROM sensor_data_agg ORDER BY 1, 2, 3, 4",
        )
        second = writer.write(frame(BATCH))
    assert (first.stored, first.duplicates) == (4, 0)
    assert (second.stored, second.duplicates) == (0, 4)
    for t, rows in snapshot.items():
        assert table(conn, f"SELECT * FROM {t} ORDER BY 1, 2, 3") == rows
    assert (
        table(
            conn,
            "SELECT window_start, window_end, sensor_id, metric, avg, min, max, count, stddev, "
            "n_warning, n_critical FROM sensor_data_agg ORDER BY 1, 2, 3, 4",
        )
        == agg
    )


def test_duplicates_inside_one_batch_are_stored_once(db_url, conn):
    with Writer(db_url) as writer:
        result = writer.write(frame(BATCH + BATCH[:2]))
    assert (result.stored, result.duplicates) == (4, 2)
    assert table(conn, "SELECT count(*) FROM sensor_data") == [(4,)]


def test_one_minute_aggregates_are_exact(db_url, conn):
    with Writer(db_url) as writer:
        writer.write(frame(BATCH[:2]))
        writer.write(frame(BATCH[2:]))  # a second batch merges into existing windows
    rows = table(
        conn,
        """SELECT sensor_id, metric, avg, min, max, count, round(stddev::numeric, 6), n_warning,
                                 n_critical
                            FROM sensor_data_agg
                           WHERE window_start = '2026-11-22T10:00:00Z' AND window_end = '2026-11-22T10:01:00Z'
                           ORDER BY sensor_id""",
    )
    assert rows[0][:6] == ("s1", "pm10", 20.0, 10.0, 30.0, 2)
    assert float(rows[0][6]) == pytest.approx(14.142136)
    assert rows[0][7:] == (1, 0)
    assert rows[1][:6] == ("s2", "noise", 60.0, 60.0, 60.0, 1)


def test_five_minute_sliding_and_hourly_windows(db_url, conn):
    with Writer(db_url) as writer:
        writer.write(frame(BATCH[:1]))  # 10:00:05
    windows = table(
        conn,
        """SELECT to_char(window_start AT TIME ZONE 'UTC', 'HH24:MI'),
                                    extract(epoch FROM window_end - window_start)::int
                               FROM sensor_data_agg ORDER BY 2, 1""",
    )
    assert windows == [
        ("10:00", 60),
        ("09:56", 300),
        ("09:57", 300),
        ("09:58", 300),
        ("09:59", 300),
        ("10:00", 300),
        ("10:00", 3600),
    ]


def test_latest_keeps_the_newest_even_when_an_older_reading_arrives_later(db_url, conn):
    with Writer(db_url) as writer:
        writer.write(frame([BATCH[2]]))  # 10:01:10 = 50
        writer.write(frame([BATCH[0]]))  # late 10:00:05 = 10
    assert table(conn, "SELECT value, status FROM sensor_latest WHERE sensor_id = 's1'") == [(50.0, "critical")]
    # ...and the late reading still landed in its window.
    assert table(
        conn,
        "SELECT count FROM sensor_data_agg WHERE window_start = '2026-11-22T10:00:00Z' "
        "AND window_end = '2026-11-22T10:01:00Z'",
    ) == [(1,)]


def test_kpi_rows_per_stage(db_url, conn):
    now = pd.Timestamp.now(tz="UTC").timestamp()
    with Writer(db_url) as writer:
        result = writer.write(
            frame(BATCH), timings=BatchTimings(source=now - 1.0, broker=now - 0.5, received=now - 0.2)
        )
    rows = table(conn, "SELECT stage, rows, batch_id FROM pipeline_kpi ORDER BY stage")
    assert [r[0] for r in rows] == ["broker_to_processor", "end_to_end", "processor_to_db", "source_to_broker"]
    assert {r[1] for r in rows} == {4}
    assert {r[2] for r in rows} == {result.batch_id}
    latency = dict(table(conn, "SELECT stage, latency_ms FROM pipeline_kpi"))
    assert latency["source_to_broker"] == pytest.approx(500, abs=1)
    assert latency["end_to_end"] >= 1000


def test_a_row_written_behind_the_writers_back_falls_back_to_the_safe_path(db_url, conn):
    with conn.cursor() as cur:  # sensor_latest does not know this row: the fast-path check passes, the insert conflicts
        cur.execute(
            "INSERT INTO sensor_data (time, sensor_id, metric, value) VALUES ('2026-11-22T10:00:35Z', 's1', 'pm10', 30)"
        )
    with Writer(db_url) as writer:
        result = writer.write(frame(BATCH))
    assert (result.stored, result.duplicates) == (3, 1)
    assert table(conn, "SELECT count(*) FROM sensor_data") == [(4,)]


AGG = """SELECT sensor_id, metric, window_start, window_end, count, avg, min, max, round(stddev::numeric, 9),
                n_warning, n_critical, n_fault, sum_value, sum_sq
           FROM sensor_data_agg ORDER BY 1, 2, 3, 4"""
