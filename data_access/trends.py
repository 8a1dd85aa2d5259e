"""Reads of the Trends page: windowed series (raw readings for short ranges, tumbling aggregates for long ones) and
their summary grouped on the server (network means, per-sensor totals: what the page draws), period-over-period
comparison, correlation between variables, and the CSV export of exactly what is shown."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data_access.engine import DatabaseUnavailable
from data_access.queries import MAX_POINTS, RAW_MAX_SPAN, sql

WINDOWS: dict[str, int] = {"1min": 60, "5min": 300, "15min": 900, "1h": 3600, "6h": 6 * 3600, "1d": 86400}
# Buckets are aligned on a Martinique midnight (UTC-4, no daylight saving): 6-hour and 1-day windows start at
# 00:00 local time. For windows of one hour or less the origin makes no difference.
ORIGIN = datetime(2000, 1, 1, 4, 0, tzinfo=UTC)
# The windows of the rollup table sensor_data_agg_6h (migration 0013), aligned on ORIGIN like the buckets.
ROLLUP_S = 6 * 3600
# Above this many 1-minute aggregate windows to read (series x minutes), hourly windows are used instead: ~100 ms.
MAX_MINUTE_WINDOWS = 150_000
# The window proposed for each preset range (about 60 to 700 points per series).
DEFAULT_WINDOW = {"15m": "1min", "1h": "1min", "6h": "5min", "24h": "15min", "7d": "1h", "30d": "6h"}


@dataclass(frozen=True)
class Plan:
    """What the Trends page reads: from which table, in which buckets, over which aligned range."""

    source: str  # "raw" (sensor_data) | "agg" (sensor_data_agg)
    window_s: int  # bucket width of the series shown
    requested_s: int  # the window the user asked for (window_s is wider when the range has too many buckets)
    base_window_s: int | None  # tumbling aggregate windows read, when source == "agg"
    start: datetime  # aligned down on window_s (UTC)
    end: datetime  # exclusive (UTC); from aggregates, the end of the last whole minute: no window reads past it

    @property
    def hour_end(self) -> datetime:
        """From 1-hour windows: where the whole hours end; the last, unfinished hour is read from 1-minute ones."""
        return max(self.start, align_down(self.end, 3600))

    @property
    def six_start(self) -> datetime:
        """From the 6-hour rollup (sensor_data_agg_6h): [six_start, six_end), the whole 6-hour windows of the range,
        when every bucket is a whole number of them (window_s a multiple of 6 h, aligned on ORIGIN as the rollup
        is); otherwise an empty span and everything comes from 1-hour windows. Always inside [start, hour_end]."""
        if self.base_window_s != 3600 or self.window_s % ROLLUP_S:
            return self.start
        return min(align_up(self.start, ROLLUP_S), self.hour_end)

    @property
    def six_end(self) -> datetime:
        if self.base_window_s != 3600 or self.window_s % ROLLUP_S:
            return self.start
        return max(self.six_start, align_down(self.hour_end, ROLLUP_S))

    @property
    def edge_hours(self) -> list[datetime]:
        """The hours read from 1-hour windows: [start, six_start) and [six_end, hour_end)."""
        hour = timedelta(hours=1)
        spans = ((self.start, self.six_start), (self.six_end, self.hour_end))
        return [a + k * hour for a, b in spans for k in range(int((b - a) / hour))]

    @property
    def widened(self) -> bool:
        return self.window_s != self.requested_s

    @property
    def buckets(self) -> int:
        return max(1, math.ceil((self.end - self.start).total_seconds() / self.window_s))

    @property
    def table(self) -> str:
        return "sensor_data" if self.source == "raw" else "sensor_data_agg"


def align_down(moment: datetime, window_s: int) -> datetime:
    offset = (moment - ORIGIN).total_seconds()
    return ORIGIN + timedelta(seconds=math.floor(offset / window_s) * window_s)


def align_up(moment: datetime, window_s: int) -> datetime:
    down = align_down(moment, window_s)
    return down if down == moment else down + timedelta(seconds=window_s)


def plan(start: datetime, end: datetime, window_s: int, *, series: int = 1, max_points: int = MAX_POINTS) -> Plan:
    """The read plan for a range, a requested window and the number of (sensor, metric) series shown.

    Raw readings up to queries.RAW_MAX_SPAN, else aggregates: 1-hour windows when the bucket is a whole number of
    hours (and the 6-hour rollup for whole 6-hour buckets: Plan.six_start), 1-minute windows otherwise (all exact
    when re-aggregated). The window is widened to the next choice when a series would exceed max_points buckets,
    and to at least 1 h when the 1-minute windows to read (series x minutes) would exceed MAX_MINUTE_WINDOWS:
    beyond that, reading them costs more than a page may."""
    choices = sorted(WINDOWS.values())
    window = window_s
    while (end - align_down(start, window)).total_seconds() / window > max_points and window < choices[-1]:
        window = next(w for w in choices if w > window)
    aligned = align_down(start, window)
    if end - aligned <= RAW_MAX_SPAN:
        return Plan("raw", window, window_s, None, aligned, end)
    if window % 3600 and max(series, 1) * (end - aligned).total_seconds() / 60 > MAX_MINUTE_WINDOWS:
        window = next(w for w in choices if w >= 3600 and w >= window)
        aligned = align_down(start, window)
    # Aggregates hold whole minutes: the range ends with the last one that ends by `end`, never after it.
    return Plan("agg", window, window_s, 3600 if window % 3600 == 0 else 60, aligned, align_down(end, 60))


def windowed_series(
    engine: Engine, *, sensor_ids, metrics, start: datetime, end: datetime, window_s: int, series: int = 1
) -> pd.DataFrame:
    """Per (metric, sensor, bucket): time (bucket start, UTC), sensor_id, metric, value (mean), min, max, count,
    read as plan(start, end, window_s, series=series) says: only readings in [plan.start, plan.end), so the last
    bucket holds what its window had until plan.end (csv_export marks it partial)."""
    frame = _planned_read(engine, False, sensor_ids, metrics, start, end, window_s, series)
    return frame.sort_values(["metric", "sensor_id", "time"], ignore_index=True)


class Summary(NamedTuple):
    """What a page drawing network means needs of a view of windowed_series, without its per-sensor rows."""

    means: pd.DataFrame  # per (metric, bucket): metric, time, value (network mean), min, max, count
    totals: pd.DataFrame  # per (sensor, metric): sensor_id, metric, value (mean), min, max, count, buckets


def summary(
    engine: Engine, *, sensor_ids, metrics, start: datetime, end: datetime, window_s: int, series: int = 1
) -> Summary:
    """windowed_series(...) grouped on the server, in one statement: `means`, per (metric, bucket), the mean of
    every reading of every sensor in the bucket (the sensors' means weighted by their counts), min, max, count,
    sorted by metric and time; `totals`, per (sensor, metric) with readings, those of the whole planned range and
    `buckets`, its number of rows in windowed_series (what the CSV export of the view holds), sorted by metric and
    sensor. A page drawing network means never receives the per-sensor rows (240 series x 121 buckets at 30 days:
    ~110 ms of parsing into pandas, for 484 rows drawn)."""
    frame = _planned_read(engine, True, sensor_ids, metrics, start, end, window_s, series)
    per_sensor = frame["per_sensor"].astype(bool)
    means = frame.loc[~per_sensor, ["metric", "time", "value", "min", "max", "count"]]
    totals = frame.loc[per_sensor, ["sensor_id", "metric", "value", "min", "max", "count", "buckets"]]
    return Summary(
        means.sort_values(["metric", "time"], ignore_index=True),
        totals.astype({"buckets": "int64"}).sort_values(["metric", "sensor_id"], ignore_index=True),
    )


# The per-sensor windowed series grouped again, both ways at once. sum(value * count) is the bucket's sum of readings
# (exact to float rounding); per_sensor says which grouping a row is of.
_SUMMARY = """
SELECT s.metric, s.time, s.sensor_id, sum(s.value * s.count) / sum(s.count) AS value, min(s.min) AS min,
       max(s.max) AS max, sum(s.count)::bigint AS count, count(*) AS buckets, GROUPING(s.time) AS per_sensor
  FROM ({per_sensor}
       ) AS s
 GROUP BY GROUPING SETS ((s.metric, s.time), (s.sensor_id, s.metric))
"""
# The per-sensor grouping of a 30-day view is ~29k groups: held in memory (at the default 4 MB it spilled to disk)
WORK_MEM = "32MB"


def _planned_read(engine, summarised, sensor_ids, metrics, start, end, window_s, series) -> pd.DataFrame:
    """The windowed series of the plan, per (metric, sensor, bucket), or `summarised` (_SUMMARY)."""
    p = plan(start, end, window_s, series=series)
    params = dict(
        sensor_ids=list(sensor_ids),
        metrics=list(metrics),
        start=p.start,
        end=p.end,
        window_s=p.window_s,
        origin=ORIGIN,
    )
    if p.source == "raw":
        name = "trends_series_raw"
    elif p.base_window_s == 3600:
        name = "trends_series_agg_6h"
        params |= dict(hour_end=p.hour_end, six_start=p.six_start, six_end=p.six_end, edge_hours=p.edge_hours)
    else:
        name = "trends_series_agg"
        params["base_window_s"] = p.base_window_s
    statement = sa.text(_SUMMARY.format(per_sensor=sql(name).text)) if summarised else sql(name)
    frame = _read(engine, statement, **params)
    if name == "trends_series_agg_6h":
        frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)  # epoch seconds (see the SQL)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["count"] = frame["count"].astype("int64")
    return frame


def _read(engine: Engine, statement: sa.TextClause, **params) -> pd.DataFrame:
    """queries.read, with JIT compilation off for the statement: these reads take tens of milliseconds, and
    PostgreSQL's JIT (on by default, triggered by the cost of a scan over a large table) would add 50-100 ms of
    compilation to each."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SET LOCAL jit = off; SET LOCAL work_mem = '{WORK_MEM}'")
            return pd.read_sql(statement, conn, params=params)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise DatabaseUnavailable(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)) from exc


def previous_range(p: Plan) -> tuple[datetime, datetime]:
    """The period just before: as many whole buckets as the current one (aligned, so buckets match one to one)."""
    span = timedelta(seconds=p.buckets * p.window_s)
    return p.start - span, p.start


# -- pure computations on series frames (unit-tested) ------------------------------------------------------------
def compare_periods(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Mean of one metric per sensor (and "*" for all of them) this period vs the previous one, from per-sensor
    rows (sensor_id, value, count: windowed series or summary totals): columns sensor_id, current, previous, delta,
    delta_pct, current_count, previous_count."""

    def stats(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(columns=["mean", "count"])
        f = frame.assign(total=frame["value"] * frame["count"])
        per = f.groupby("sensor_id").agg(total=("total", "sum"), count=("count", "sum"))
        per.loc["*"] = [f["total"].sum(), f["count"].sum()]
        per["mean"] = per["total"] / per["count"]
        return per[["mean", "count"]]

    cur, prev = stats(current), stats(previous)
    out = cur.add_suffix("_cur").join(prev.add_suffix("_prev"), how="outer")
    out = out.rename(
        columns={
            "mean_cur": "current",
            "mean_prev": "previous",
            "count_cur": "current_count",
            "count_prev": "previous_count",
        }
    )
    out["delta"] = out["current"] - out["previous"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["delta_pct"] = np.where(out["previous"].abs() > 0, out["delta"] / out["previous"].abs() * 100, np.nan)
    out[["current_count", "previous_count"]] = out[["current_count", "previous_count"]].fillna(0).astype("int64")
    out = out.rename_axis("sensor_id").reset_index()
    order = out["sensor_id"].eq("*").map({True: 0, False: 1})
    return out.assign(_o=order).sort_values(["_o", "sensor_id"]).drop(columns="_o").reset_index(drop=True)


def correlation(means: pd.DataFrame, *, min_buckets: int = 3) -> pd.DataFrame:
    """Pearson correlation between metrics of their network-mean windowed series (summary means: metric, time,
    value), over the buckets where both have data. Metrics with fewer than min_buckets buckets are left out."""
    if means.empty:
        return pd.DataFrame()
    wide = means.pivot(index="time", columns="metric", values="value")
    wide = wide.loc[:, wide.notna().sum() >= min_buckets]
    if wide.shape[1] < 2:
        return pd.DataFrame()
    return wide.corr(method="pearson", min_periods=min_buckets)


def auto_window(range_key: str, start: datetime, end: datetime) -> int:
    """The window proposed for a range: a fixed choice per preset, and for a custom range the smallest window
    giving at most ~800 buckets."""
    if range_key in DEFAULT_WINDOW:
        return WINDOWS[DEFAULT_WINDOW[range_key]]
    span = (end - start).total_seconds()
    return next((w for w in sorted(WINDOWS.values()) if span / w <= 800), max(WINDOWS.values()))
