"""The 6-hour rollup (sensor_data_agg_6h, migration 0013) checked against an independent recomputation: the raw
readings stored in sensor_data, binned in 6 hours from a Martinique midnight. A window is the sum of its lanes."""

from __future__ import annotations

import pytest

# Per window, its lanes combined: keys, count, status counts, min, max, sum, sum of squares.
ROLLUP_6H = """
SELECT sensor_id, metric, window_start, window_end, sum(count), sum(n_warning), sum(n_critical), sum(n_fault),
       min(min), max(max), sum(sum_value), sum(sum_sq)
  FROM sensor_data_agg_6h GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3
"""
FROM_READINGS = """
SELECT sensor_id, metric, w, w + interval '6 hours', count(*), count(*) FILTER (WHERE status = 'warning'),
       count(*) FILTER (WHERE status = 'critical'), count(*) FILTER (WHERE status = 'fault'), min(value), max(value),
       sum(value), sum(value * value)
  FROM (SELECT *, date_bin(interval '6 hours', time, timestamptz '2000-01-01 04:00:00+00') AS w FROM sensor_data) r
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
# Every stored row is consistent in itself (mean and sample standard deviation from its sums).
INCONSISTENT_ROWS = """
SELECT sensor_id, metric, window_start, lane FROM sensor_data_agg_6h
 WHERE abs(avg - sum_value / count) > 1e-9 * greatest(1, abs(avg))
    OR (count = 1) <> (stddev IS NULL)
    OR (count > 1 AND abs(stddev - sqrt(greatest(0, (sum_sq - sum_value ^ 2 / count) / (count - 1))))
                      > 1e-6 * greatest(1, stddev))
"""


def fetch(conn, query: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query)
        rows = cur.fetchall()
    conn.rollback()  # leave no transaction open (its snapshot would hide the next writes)
    return rows


def same_windows(got: list[tuple], expected: list[tuple]) -> None:
    """Keys, counts, min and max exactly; sums to float rounding (summation order differs)."""
    assert [row[:10] for row in got] == [row[:10] for row in expected]
    for a, b in zip(got, expected, strict=True):
        assert a[10:] == pytest.approx(b[10:], rel=1e-9, abs=1e-6), a[:4]


def assert_rollup_matches_readings(conn) -> list[tuple]:
    """sensor_data_agg_6h == the 6-hour windows recomputed from the raw readings (and there are some)."""
    expected = fetch(conn, FROM_READINGS)
    assert expected, "no readings: the comparison would prove nothing"
    same_windows(fetch(conn, ROLLUP_6H), expected)
    assert fetch(conn, INCONSISTENT_ROWS) == []
    return expected
