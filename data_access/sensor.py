"""Reads of the Sensor page: one sensor's identity and freshness, the latest value of each of its metrics, its
battery trend with an estimated depletion date, its alert history, and data-quality indicators (gaps, stuck
values, share of warning / critical / fault readings) computed in SQL. Same conventions as data_access.queries:
fn(engine, *, ...) -> DataFrame, SQL in data_access/sql/sensor_*.sql."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from data_access import queries
from data_access.queries import RAW_MAX_SPAN, read

GAP_FACTORS = (5, 10, 60, 300)  # a gap: at least N x the step the readings are stored at, without a reading
STEP_HOURLY_FROM = timedelta(hours=3)  # from this span on, the stored step is measured on 1-hour windows
DEFAULT_GAP_FACTOR = 10
GAP_RAW_MAX_SPAN = timedelta(hours=24)  # longer ranges: gaps from the 1-minute windows (1-minute resolution)
GAP_LIMIT = 50  # longest gaps listed per metric (counts and totals cover all of them)
STUCK_MIN_RUN = 10  # identical consecutive readings before a value counts as stuck
STUCK_MAX_SPAN = timedelta(hours=24)  # stuck values are searched in the raw rows of the last 24 h of the range
STUCK_LIMIT = 100
SHARES_MINUTE_MAX_SPAN = timedelta(days=2)  # status shares: raw <= 2 h, 1-minute windows <= 2 days, else hourly
BATTERY_DAYS = 3  # the battery trend is fitted on the last days of hourly means
BATTERY_MIN_POINTS = 6  # hourly means needed for a fit
BATTERY_MIN_SPAN_H = 4.0  # ... spread over at least this many hours
BATTERY_REPLACED_JUMP = 5.0  # a rise of more than 5 points between two hours: a new battery, the fit starts there
BATTERY_FLAT_PER_DAY = 0.05  # slower than 0.05 %/day: not discharging measurably


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def sensor_info(engine: Engine, *, sensor_id: str, now: datetime | None = None) -> pd.DataFrame:
    """The sensor's catalogue row (active or not) with last_time, age_s and status (online / stale / offline,
    queries.sensor_status; an inactive sensor has no status). Empty when the sensor does not exist."""
    info = _utc(read(engine, "sensor_info", sensor_id=sensor_id), "installed_at")
    if info.empty:
        return info
    info["tags"] = info["tags"].map(lambda v: tuple(v or ()))
    status = queries.sensor_status(engine, now=now)
    status = status.loc[status["sensor_id"] == sensor_id, ["sensor_id", "last_time", "age_s", "status"]]
    return info.merge(status, on="sensor_id", how="left")


def latest_by_metric(engine: Engine, *, sensor_id: str, now: datetime | None = None) -> pd.DataFrame:
    """Latest reading of each metric of the sensor: metric, labels, unit, thresholds, time, value, status, age_s."""
    return _utc(read(engine, "sensor_latest_metrics", sensor_id=sensor_id, now=now or datetime.now(UTC)), "time")


# -- battery ---------------------------------------------------------------------------------------------------------
def battery_hourly(engine: Engine, *, sensor_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Hourly battery means (1-hour windows starting in [start, end)): window_start, value, min, max, count."""
    return _utc(read(engine, "sensor_battery_hourly", sensor_id=sensor_id, start=start, end=end), "window_start")


def battery_forecast(
    hourly: pd.DataFrame,
    *,
    now: datetime,
    crit_low: float | None = 10.0,
    min_points: int = BATTERY_MIN_POINTS,
    min_span_h: float = BATTERY_MIN_SPAN_H,
) -> dict:
    """Least-squares line through the hourly means since the last battery change (a rise of more than
    BATTERY_REPLACED_JUMP points), each placed at the middle of its hour.

    Returns a dict: `state` — "no_data" (no battery values), "not_enough" (fewer than min_points hourly means or
    a span under min_span_h hours since the last change), "not_discharging" (slope > -BATTERY_FLAT_PER_DAY %/day),
    or "ok"; `points`, `since` (first hour used), `last` (latest hourly mean), `slope_per_day` (% per day),
    `fitted_now` (the line at `now`), `critical_at` (the line reaches crit_low; None when already below or no
    threshold), `depletion_at` (the line reaches 0 %), `fit` (DataFrame time, value of the fitted line over the
    points used, for drawing)."""
    result: dict = {
        "state": "no_data",
        "points": 0,
        "since": None,
        "last": None,
        "slope_per_day": None,
        "fitted_now": None,
        "critical_at": None,
        "depletion_at": None,
        "fit": pd.DataFrame({"time": pd.Series(dtype="datetime64[ns, UTC]"), "value": pd.Series(dtype=float)}),
    }
    if hourly is None or hourly.empty:
        return result
    frame = hourly.sort_values("window_start").reset_index(drop=True)
    jumps = np.flatnonzero(frame["value"].diff().to_numpy() > BATTERY_REPLACED_JUMP)
    if len(jumps):
        frame = frame.iloc[jumps[-1] :].reset_index(drop=True)
    mid = frame["window_start"] + pd.Timedelta(minutes=30)
    result.update(points=len(frame), since=frame["window_start"].iloc[0], last=float(frame["value"].iloc[-1]))
    span_h = (mid.iloc[-1] - mid.iloc[0]).total_seconds() / 3600
    if len(frame) < min_points or span_h < min_span_h:
        result["state"] = "not_enough"
        return result
    origin = mid.iloc[0]
    x_days = (mid - origin).dt.total_seconds().to_numpy() / 86400
    slope, intercept = np.polyfit(x_days, frame["value"].to_numpy(dtype=float), 1)
    slope, intercept = float(slope), float(intercept)
    now_days = (pd.Timestamp(now) - origin).total_seconds() / 86400
    result.update(
        slope_per_day=slope,
        fitted_now=intercept + slope * now_days,
        fit=pd.DataFrame({"time": mid, "value": intercept + slope * x_days}),
    )
    if slope > -BATTERY_FLAT_PER_DAY:
        result["state"] = "not_discharging"
        return result
    result["state"] = "ok"

    def reaches(level: float) -> pd.Timestamp:
        return origin + pd.Timedelta(days=(level - intercept) / slope)

    result["depletion_at"] = reaches(0.0)
    if crit_low is not None and result["fitted_now"] > crit_low:
        result["critical_at"] = reaches(float(crit_low))
    return result


def battery_trend(
    engine: Engine, *, sensor_id: str, now: datetime | None = None, days: int = BATTERY_DAYS, crit_low=10.0
) -> dict:
    """battery_forecast over the hourly means of the last `days` days, plus `hourly` (the means read)."""
    now = now or datetime.now(UTC)
    hourly = battery_hourly(engine, sensor_id=sensor_id, start=now - timedelta(days=days), end=now)
    return battery_forecast(hourly, now=now, crit_low=crit_low) | {"hourly": hourly}


# -- alerts -----------------------------------------------------------------------------------------------------------
def alert_history(engine: Engine, *, sensor_id: str, limit: int = 500) -> pd.DataFrame:
    """The sensor's alerts, most recent first (open and closed), with the metric's labels and unit."""
    frame = read(engine, "sensor_alert_history", sensor_id=sensor_id, limit=int(limit))
    return _utc(frame, "opened_at", "last_seen_at", "closed_at", "acknowledged_at")


# -- data quality -----------------------------------------------------------------------------------------------------
def gap_source(start: datetime, end: datetime) -> str:
    """Where gaps are searched: "raw" readings up to GAP_RAW_MAX_SPAN, else the 1-minute windows ("agg")."""
    return "raw" if end - start <= GAP_RAW_MAX_SPAN else "agg"


def stored_steps(engine: Engine, *, sensor_id: str, start: datetime, end: datetime) -> dict[str, int]:
    """metric -> the step (seconds) its readings are stored at in [start, end), from the readings of its fuller
    windows there (sensor_step.sql; 1-hour windows from STEP_HOURLY_FROM on, else 1-minute ones): 1 for a live
    sensor, 60 for a one-minute history. Metrics without a whole window in the range are left out."""
    window_s = 3600 if end - start >= STEP_HOURLY_FROM else 60
    frame = read(engine, "sensor_step", sensor_id=sensor_id, start=start, end=end, window_s=window_s)
    return {
        row.metric: max(1, round(window_s / float(row.full_count)))
        for row in frame.itertuples()
        if row.full_count and row.full_count > 0
    }


def typical_step(steps: dict[str, int], expected_interval_s: int) -> int:
    """The step the gap threshold is a multiple of, for the sensor as a whole: the most common stored step of its
    metrics (the shortest among equals), never under the interval the sensor is expected to report at."""
    if not steps:
        return max(1, int(expected_interval_s))
    counts = pd.Series(list(steps.values())).value_counts()
    return max(int(expected_interval_s), int(min(counts[counts == counts.max()].index)))


def gaps(
    engine: Engine,
    *,
    sensor_id: str,
    start: datetime,
    end: datetime,
    factor: int = DEFAULT_GAP_FACTOR,
    steps: tuple[tuple[str, int], ...] = (),
    default_s: int = 1,
    limit: int = GAP_LIMIT,
) -> pd.DataFrame:
    """Periods of at least factor x step without a reading, per metric, in [start, end) (the range edges count as
    readings), where step is the metric's stored step (`steps`: (metric, seconds) pairs, see stored_steps) or
    default_s. From the raw rows up to GAP_RAW_MAX_SPAN; beyond, from the 1-minute windows, where no gap under one
    minute can be seen (the threshold is then at least 60 s). Columns: metric, gap_start, gap_end, duration_s,
    metric_gaps (all gaps of the metric), metric_gap_s (their total duration); the `limit` longest per metric are
    listed."""
    source = gap_source(start, end)
    frame = read(
        engine,
        "sensor_gaps_raw" if source == "raw" else "sensor_gaps_agg",
        sensor_id=sensor_id,
        start=start,
        end=end,
        factor=int(factor),
        step_metrics=[m for m, _ in steps],
        step_s=[max(1, int(v)) for _, v in steps],
        default_s=max(1, int(default_s)),
        min_s=1 if source == "raw" else 60,
        limit=int(limit),
    )
    frame["metric_gaps"] = frame["metric_gaps"].astype("int64")
    return _utc(frame, "gap_start", "gap_end")


def gap_summary(gap_rows: pd.DataFrame, metrics, span_s: float) -> pd.DataFrame:
    """Per metric (every one of `metrics`, in order): gaps, total gap seconds, longest gap seconds and coverage
    (share of the range outside gaps, 0-1)."""
    rows = []
    for metric in metrics:
        part = gap_rows[gap_rows["metric"] == metric] if len(gap_rows) else gap_rows
        count = int(part["metric_gaps"].iloc[0]) if len(part) else 0
        total = float(part["metric_gap_s"].iloc[0]) if len(part) else 0.0
        longest = float(part["duration_s"].max()) if len(part) else 0.0
        rows.append(
            {
                "metric": metric,
                "gaps": count,
                "gap_s": total,
                "longest_s": longest,
                "coverage": max(0.0, 1.0 - total / span_s) if span_s > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "gaps", "gap_s", "longest_s", "coverage"])


def stuck_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The part of the range searched for stuck values: its last STUCK_MAX_SPAN."""
    return max(start, end - STUCK_MAX_SPAN), end


def stuck_runs(
    engine: Engine,
    *,
    sensor_id: str,
    start: datetime,
    end: datetime,
    min_run: int = STUCK_MIN_RUN,
    limit: int = STUCK_LIMIT,
) -> pd.DataFrame:
    """Runs of at least min_run identical consecutive raw readings of a metric (floor and ceiling values of the
    metric and the battery excepted), in the last STUCK_MAX_SPAN of [start, end): metric, value, run_start, run_end, readings,
    duration_s; longest first."""
    start, end = stuck_window(start, end)
    frame = read(
        engine, "sensor_stuck_runs", sensor_id=sensor_id, start=start, end=end, min_run=int(min_run), limit=int(limit)
    )
    frame["readings"] = frame["readings"].astype("int64")
    return _utc(frame, "run_start", "run_end")


def shares_source(start: datetime, end: datetime) -> tuple[str, int | None]:
    """("raw", None) up to queries.RAW_MAX_SPAN, ("agg", 60) up to SHARES_MINUTE_MAX_SPAN, else ("agg", 3600)."""
    if end - start <= RAW_MAX_SPAN:
        return "raw", None
    return ("agg", 60) if end - start <= SHARES_MINUTE_MAX_SPAN else ("agg", 3600)


def status_shares(engine: Engine, *, sensor_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per metric: readings, n_warning, n_critical, n_fault and their shares (0-1) in [start, end). Raw rows for
    short ranges; for longer ones the status counts of the tumbling windows starting in the range (exact sums)."""
    source, window_s = shares_source(start, end)
    if source == "raw":
        frame = read(engine, "sensor_status_shares_raw", sensor_id=sensor_id, start=start, end=end)
    else:
        frame = read(engine, "sensor_status_shares_agg", sensor_id=sensor_id, start=start, end=end, window_s=window_s)
    for column in ("readings", "n_warning", "n_critical", "n_fault"):
        frame[column] = frame[column].astype("int64")
    for level in ("warning", "critical", "fault"):
        frame[f"share_{level}"] = frame[f"n_{level}"] / frame["readings"].where(frame["readings"] > 0)
    return frame
