"""A hand-computed example: 1-minute tumbling, 5-minute sliding (every minute) and 1-hour windows, with a late
reading arriving after its windows were first written."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.catalogue import SENSORS
from ingestion.processor import LiteProcessor
from ingestion.validation import Validator
from ingestion.writer import Writer
from tests.support.rollups import ROLLUP_6H, assert_rollup_matches_readings, fetch

SID = next(s.sensor_id for s in SENSORS if s.kind == "noise")
T = datetime(2026, 11, 22, 9, 0, 0, tzinfo=UTC)


def msg(offset_s: float, value: float) -> str:
    when = (T + timedelta(seconds=offset_s)).isoformat().replace("+00:00", "Z")
    return json.dumps({"timestamp": when, "sensor_id": SID, "metric": "noise", "value": value, "unit": "dB(A)"})


def windows(conn, size_s: int):
    with conn.cursor() as cur:
        cur.execute(
            """SELECT to_char(window_start AT TIME ZONE 'UTC', 'HH24:MI'), count, avg, min, max,
                      round(stddev::numeric, 9)::float, n_warning, n_critical
                 FROM sensor_data_agg
                WHERE sensor_id = %s AND metric = 'noise'
                  AND window_end - window_start = %s * interval '1 second'
                ORDER BY window_start""",
            (SID, size_s),
        )
        return cur.fetchall()


def test_hand_computed_windows_with_a_late_reading(db_url, conn):
    with Writer(db_url) as writer:
        processor = LiteProcessor(writer, Validator(source="test"), max_batch=10_000)
        # batch 1: 09:00:10 = 60, 09:00:50 = 66 (warning > 65), 09:01:30 = 72 (critical > 70)
        for offset, value in ((10, 60), (50, 66), (90, 72)):
            processor.submit(msg(offset, value), received_at=T.timestamp() + 600)
        processor.flush()
        # batch 2, late: 09:00:30 = 63 arrives after 09:01:30 was stored; it must join its old windows
        processor.submit(msg(30, 63), received_at=T.timestamp() + 601)
        processor.flush()
    assert processor.totals.late == 1
    assert processor.totals.stored == 4  # the four readings sent above

    # 1-minute tumbling: [09:00, 09:01) = {60, 66, 63}; [09:01, 09:02) = {72}
    minute = windows(conn, 60)
    assert minute[0][:5] == ("09:00", 3, pytest.approx(63.0), 60.0, 66.0)
    assert minute[0][5] == pytest.approx(3.0)  # sample stddev of 60, 63, 66
    assert minute[0][6:] == (1, 0)
    assert minute[1] == ("09:01", 1, 72.0, 72.0, 72.0, None, 0, 1)

    # 5-minute sliding every minute: windows starting 08:56..09:00 contain the 09:00 readings; 08:57..09:01
    # contain the 09:01 one. So 08:56 = {3 readings}, 08:57..09:00 = {all 4}, 09:01 = {72}.
    sliding = {w[0]: w[1:5] for w in windows(conn, 300)}
    assert sorted(sliding) == ["08:56", "08:57", "08:58", "08:59", "09:00", "09:01"]
    assert sliding["08:56"] == (3, pytest.approx(63.0), 60.0, 66.0)
    for start in ("08:57", "08:58", "08:59", "09:00"):
        assert sliding[start] == (4, pytest.approx(65.25), 60.0, 72.0)
    assert sliding["09:01"] == (1, 72.0, 72.0, 72.0)

    # 1-hour tumbling: all four
    hour = windows(conn, 3600)
    assert hour[0][:5] == ("09:00", 4, pytest.approx(65.25), 60.0, 72.0)
    assert hour[0][5] == pytest.approx(5.12347538, rel=1e-8)
    assert hour[0][6:] == (1, 1)


def test_six_hour_windows_start_at_martinique_midnight_and_take_late_readings(db_url, conn):
    """sensor_data_agg_6h: tumbling 6-hour windows starting at 00, 06, 12, 18 h in Martinique (04, 10, 16, 22 h UTC),
    hand-computed from the readings sent; a late reading merged into its old window (in the older readings' lane);
    the same batches replayed change nothing."""
    day = datetime(2026, 11, 22, tzinfo=UTC)
    sent = [  # (UTC time, value): 03:59:59 is 23:59:59 local on the 21st, 04:00:00 is midnight
        (day + timedelta(hours=3, minutes=59, seconds=59), 50.0),
        (day + timedelta(hours=4), 60.0),
        (day + timedelta(hours=9, minutes=59, seconds=59), 66.0),
        (day + timedelta(hours=10), 72.0),
    ]
    late = (day + timedelta(hours=5), 63.0)
    received = day.timestamp() + 11 * 3600
    with Writer(db_url) as writer:
        for _ in range(2):  # the second time: a replay (MQTT redelivery), nothing new
            processor = LiteProcessor(writer, Validator(source="test"), max_batch=10_000)
            for when, value in sent:
                processor.submit(msg((when - T).total_seconds(), value), received_at=received)
            processor.flush()
            processor.submit(msg((late[0] - T).total_seconds(), late[1]), received_at=received + 1)
            processor.flush()
    rows = fetch(conn, ROLLUP_6H)
    h = timedelta(hours=1)
    assert [(r[2], r[3]) for r in rows] == [
        (day - 2 * h, day + 4 * h),  # 21 Nov 18:00 - 22 Nov 00:00 local
        (day + 4 * h, day + 10 * h),  # 22 Nov 00:00 - 06:00 local
        (day + 10 * h, day + 16 * h),
    ]
    # count, n_warning (> 65), n_critical (> 70), n_fault, min, max, sum, sum of squares
    assert rows[0][4:] == (1, 0, 0, 0, 50.0, 50.0, 50.0, 2500.0)
    assert rows[1][4:] == (3, 1, 0, 0, 60.0, 66.0, 189.0, 60.0**2 + 66.0**2 + 63.0**2)  # 60, 66 and the late 63
    assert rows[2][4:] == (1, 0, 1, 0, 72.0, 72.0, 72.0, 72.0**2)
    lanes = fetch(conn, "SELECT window_start, lane, count FROM sensor_data_agg_6h ORDER BY 1, 2")
    assert (day + 4 * h, 1, 1) in lanes  # the late 63, older than the series' newest minute when it came
    six = fetch(conn, "SELECT round(stddev::numeric, 9)::float FROM sensor_data_agg_6h WHERE lane = 0 AND count = 2")
    assert six == [(pytest.approx(4.242640687),)]  # 60 and 66
    assert_rollup_matches_readings(conn)
    # migration 0013 on a database with history: the same windows recomputed from the 1-hour ones
    with conn.cursor() as cur:
        cur.execute("DELETE FROM sensor_data_agg_6h; SELECT madinina_rollup_agg_6h(NULL, NULL)")
        assert cur.fetchone() == (3,)
    assert fetch(conn, ROLLUP_6H) == rows
