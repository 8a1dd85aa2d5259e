"""Reads of the Map page: where each sensor is and how it is (freshness status, latest value of a metric), and the
replay frames — windowed aggregates of one metric within a range, in a bounded number of frames.
Same conventions as data_access.queries: fn(engine, *, ...) -> DataFrame, SQL in data_access/sql/map_*.sql."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from data_access import queries
from data_access.queries import read

# Frames are aligned on a Martinique midnight (UTC-4, no daylight saving): a 1-day frame is a local day.
ORIGIN = datetime(2000, 1, 1, 4, 0, tzinfo=UTC)
# Frame widths proposed, smallest first; the first one giving at most MAX_FRAMES frames over the range is used.
FRAME_STEPS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
MAX_FRAMES = 96


@dataclass(frozen=True)
class FramePlan:
    """The replay frames of a range: [start, end) cut in frames of step_s seconds, read from the tumbling windows
    of base_window_s seconds (1 minute, or 1 hour when the frame is a whole number of hours)."""

    step_s: int
    base_window_s: int
    start: datetime  # aligned down on step_s (UTC): the first frame may begin before the range
    end: datetime  # exclusive (UTC)

    @property
    def frames(self) -> tuple[datetime, ...]:
        count = max(1, math.ceil((self.end - self.start).total_seconds() / self.step_s))
        return tuple(self.start + timedelta(seconds=k * self.step_s) for k in range(count))


def align_down(moment: datetime, step_s: int) -> datetime:
    offset = (moment - ORIGIN).total_seconds()
    return ORIGIN + timedelta(seconds=math.floor(offset / step_s) * step_s)


def frame_plan(start: datetime, end: datetime, *, max_frames: int = MAX_FRAMES) -> FramePlan:
    """The narrowest frame width from FRAME_STEPS_S that cuts [start, end) in at most max_frames frames."""
    for step in FRAME_STEPS_S:
        aligned = align_down(start, step)
        if math.ceil((end - aligned).total_seconds() / step) <= max_frames:
            break
    else:  # ranges beyond max_frames days: whole days, as many as needed to stay within max_frames
        days = math.ceil((end - start).total_seconds() / 86400 / max_frames)
        step = 86400 * days
        aligned = align_down(start, step)
    return FramePlan(step, 3600 if step % 3600 == 0 else 60, aligned, end)


def _ids(sensor_ids) -> list[str] | None:
    return None if sensor_ids is None else list(sensor_ids)


def sensor_points(engine: Engine, *, sensor_ids=None, metric: str | None = None, now: datetime | None = None):
    """One row per active sensor (restricted to sensor_ids when given): id, name, kind, commune, coordinates,
    expected interval, last_time, age_s, status (online / stale / offline, queries.sensor_status) and, for `metric`,
    the latest value with its time and reading status (NaN / NaT where the sensor never reported it)."""
    status = queries.sensor_status(engine, now=now)
    if sensor_ids is not None:
        status = status[status["sensor_id"].isin(list(sensor_ids))].reset_index(drop=True)
    if metric is None:
        return status.assign(value=float("nan"), value_time=pd.NaT, value_status=None)
    latest = read(engine, "map_latest_values", metric=metric, sensor_ids=_ids(sensor_ids))
    latest["value_time"] = pd.to_datetime(latest["value_time"], utc=True)
    frame = status.merge(latest, on="sensor_id", how="left")
    frame["value"] = frame["value"].astype("float64")
    return frame


def replay_frames(
    engine: Engine,
    *,
    metric: str,
    sensor_ids,
    start: datetime,
    end: datetime,
    step_s: int,
    base_window_s: int,
) -> pd.DataFrame:
    """Per (frame, sensor) with readings: frame (start, UTC), sensor_id, value (mean), min, max, count, n_warning,
    n_critical, n_fault. Windows of base_window_s seconds starting in [start, end) are summed exactly."""
    if base_window_s not in (60, 3600) or step_s % base_window_s:
        raise ValueError("frames must be whole numbers of 1-minute or 1-hour windows")
    frame = read(
        engine,
        "map_replay_frames",
        metric=metric,
        sensor_ids=list(sensor_ids),
        start=start,
        end=end,
        step_s=int(step_s),
        base_window_s=int(base_window_s),
        origin=ORIGIN,
    )
    frame["frame"] = pd.to_datetime(frame["frame"], utc=True)
    for column in ("count", "n_warning", "n_critical", "n_fault"):
        frame[column] = frame[column].astype("int64")
    return frame
