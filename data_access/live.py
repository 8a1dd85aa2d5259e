"""Reads of the Live page: the sensor catalogue behind the shared filters, freshness, latest values with their
delta, end-to-end latency. Same conventions as data_access.queries: fn(engine, *, ...) -> DataFrame."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy.engine import Engine

from data_access import queries
from data_access.queries import read

STATUSES = ("online", "stale", "offline")


def _ids(sensor_ids) -> list[str] | None:
    return None if sensor_ids is None else list(sensor_ids)


def sensor_catalogue(engine: Engine) -> pd.DataFrame:
    """Active sensors (id, name, kind, commune, insee, coordinates, expected interval) with `metrics`, the list
    of metrics each has reported."""
    frame = read(engine, "live_sensor_catalogue")
    frame["metrics"] = frame["metrics"].map(lambda v: tuple(v or ()))
    return frame


def sensor_status(engine: Engine, *, sensor_ids=None, now: datetime | None = None) -> pd.DataFrame:
    """queries.sensor_status (online / stale / offline from each sensor's expected interval) restricted to the
    given sensors (None = all)."""
    frame = queries.sensor_status(engine, now=now)
    if sensor_ids is not None:
        frame = frame[frame["sensor_id"].isin(list(sensor_ids))].reset_index(drop=True)
    return frame


def status_counts(status: pd.DataFrame) -> dict[str, int]:
    counts = status["status"].value_counts() if len(status) else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATUSES} | {"total": len(status)}


def metric_overview(engine: Engine, *, sensor_ids=None, now: datetime | None = None) -> pd.DataFrame:
    """Per metric: mean over the sensors of the last complete minute (`current`), of the minute before
    (`previous`), the number of sensors behind `current` and their `readings` in that minute."""
    frame = read(engine, "live_metric_overview", now=now or datetime.now(UTC), sensor_ids=_ids(sensor_ids))
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True)
    frame["readings"] = frame["readings"].astype("int64")
    return frame


def readings_per_s(overview: pd.DataFrame) -> float:
    """Readings per second of the sensors behind a metric_overview, over its last complete minute."""
    return float(overview["readings"].sum()) / 60.0 if len(overview) else 0.0


def message_rate(engine: Engine, *, seconds: int = 60, now: datetime | None = None) -> float | None:
    """Messages received per second by the live consumers over the last `seconds` (ingest_ledger), the whole
    network (a message is not attributed to a filter); None when no consumer wrote to the ledger in that time."""
    frame = read(engine, "live_message_rate", seconds=int(seconds), now=now or datetime.now(UTC))
    if frame.empty or int(frame["batches"].iloc[0]) == 0:
        return None
    return float(frame["messages_per_s"].iloc[0])


def end_to_end_latency(engine: Engine, *, minutes: int = 5) -> dict[str, float | int | None]:
    """p50/p95/p99 of the end_to_end stage over the last `minutes` (get_pipeline_latency_stats)."""
    frame = read(engine, "live_latency", minutes=int(minutes))
    if frame.empty:
        return {"samples": 0, "avg_ms": None, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    row = frame.iloc[0]
    return {"samples": int(row["samples"])} | {
        k: float(row[k]) for k in ("avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")
    }
