"""Typed read functions: fn(engine, *, ...) -> DataFrame. SQL lives in data_access/sql/*.sql (runnable in
psql with the :named parameters set), always with bound parameters; times are UTC timestamptz in and out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data_access.engine import DatabaseUnavailable

SQL_DIR = Path(__file__).resolve().parent / "sql"
MAX_POINTS = 5000  # per series: the browser never receives more
RAW_MAX_SPAN = timedelta(hours=2)  # up to this span, raw readings are read (bucketed if needed)
MIN_POINTS = 300  # a series from aggregates keeps at least this many points when the range allows
AGG_WINDOWS_S = (60, 3600)  # tumbling windows usable for series; 5-min sliding windows overlap, never summed


@cache
def sql(name: str) -> sa.TextClause:
    return sa.text((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def read(engine: Engine, name: str, **params) -> pd.DataFrame:
    """Run data_access/sql/<name>.sql with bound parameters; database outages become DatabaseUnavailable."""
    try:
        with engine.connect() as conn:
            return pd.read_sql(sql(name), conn, params=params)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise DatabaseUnavailable(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)) from exc


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def sensor_status(engine: Engine, *, now: datetime | None = None) -> pd.DataFrame:
    return _utc(read(engine, "sensor_status", now=now or _utc_now()), "last_time")


def latest_readings(engine: Engine, *, sensor_ids=None) -> pd.DataFrame:
    ids = None if sensor_ids is None else list(sensor_ids)
    return _utc(read(engine, "latest_readings", sensor_ids=ids), "time")


def throughput(engine: Engine, *, seconds: int = 60, now: datetime | None = None) -> float:
    frame = read(engine, "throughput", seconds=seconds, now=now or _utc_now())
    return float(frame["readings_per_s"].iloc[0]) if len(frame) else 0.0


def latency_stats(engine: Engine, *, interval: str = "1 hour") -> pd.DataFrame:
    return read(engine, "latency_stats", interval=interval)


def metrics(engine: Engine) -> pd.DataFrame:
    return read(engine, "metrics")


@dataclass(frozen=True)
class Resolution:
    source: str  # "raw" | "agg"
    step_s: int  # bucket width of the returned series
    window_s: int | None  # aggregate window read, when source == "agg"


def choose_resolution(
    start: datetime, end: datetime, *, max_points: int = MAX_POINTS, min_step_s: int = 1
) -> Resolution:
    """Raw readings for short spans, tumbling aggregates for long ones; the step keeps series <= max_points."""
    span_s = max((end - start).total_seconds(), 1.0)
    step_s = max(min_step_s, math.ceil(span_s / max_points))
    if end - start <= RAW_MAX_SPAN and step_s < 60:
        return Resolution("raw", step_s, None)
    # The coarsest window that still leaves a readable curve: fewer rows read for long ranges.
    window_s = max([w for w in AGG_WINDOWS_S if span_s / w >= MIN_POINTS] or [AGG_WINDOWS_S[0]])
    step_s = max(step_s, window_s)
    step_s = int(math.ceil(step_s / window_s) * window_s)  # whole windows per bucket: exact re-aggregation
    return Resolution("agg", step_s, window_s)


def timeseries(
    engine: Engine,
    *,
    sensor_ids: list[str],
    metric: str,
    start: datetime,
    end: datetime,
    resolution: Resolution | None = None,
) -> tuple[pd.DataFrame, Resolution]:
    """Series of one metric for the given sensors: columns time, sensor_id, value, min, max, count."""
    resolution = resolution or choose_resolution(start, end)
    if resolution.source == "raw":
        frame = read(
            engine,
            "raw_series",
            metric=metric,
            sensor_ids=list(sensor_ids),
            start=start,
            end=end,
            step_s=resolution.step_s,
        )
    else:
        frame = read(
            engine,
            "agg_series",
            metric=metric,
            sensor_ids=list(sensor_ids),
            start=start,
            end=end,
            step_s=resolution.step_s,
            window_s=resolution.window_s,
        )
    return _utc(frame, "time"), resolution
