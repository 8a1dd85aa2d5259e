"""Reads of the Live page: the sensor catalogue behind the shared filters, freshness, and the page's other figures
in one statement (latest values with their delta, open alerts, messages/s, end-to-end latency). Same conventions
as data_access.queries: fn(engine, *, ...) -> DataFrame."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy.engine import Engine

from data_access import alerts, queries
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


OVERVIEW = ("metric", "label_fr", "label_en", "unit", "current", "previous", "sensors", "readings", "window_start")
LATENCY = ("avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def kpis(
    engine: Engine, *, sensor_ids=None, now: datetime | None = None, seconds: int = 60, minutes: int = 5
) -> pd.DataFrame:
    """The Live page's figures beside the sensor grid, one statement (live_kpis.sql): one row per metric of the
    overview (metric NULL when there is none), each carrying the open alerts of these sensors by severity, the
    messages/s of the last `seconds` before `now` and the end-to-end latency of the last `minutes`. Split with
    overview_of, open_alerts_of, message_rate_of and latency_of."""
    frame = read(
        engine,
        "live_kpis",
        now=now or datetime.now(UTC),
        sensor_ids=_ids(sensor_ids),
        seconds=int(seconds),
        minutes=int(minutes),
    )
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True)
    return frame


def overview_of(kpis: pd.DataFrame) -> pd.DataFrame:
    """Per metric: mean over the sensors of the last complete minute (`current`), of the minute before
    (`previous`), the number of sensors behind `current` and their `readings` in that minute."""
    frame = kpis.loc[kpis["metric"].notna(), list(OVERVIEW)].reset_index(drop=True)
    return frame.astype({"sensors": "int64", "readings": "int64"})


def open_alerts_of(kpis: pd.DataFrame) -> pd.DataFrame:
    """One row per severity (critical, warning, info): open_alerts, unacknowledged (always all three)."""
    row = kpis.iloc[0]
    return pd.DataFrame(
        {
            "severity": list(alerts.SEVERITIES),
            "open_alerts": [int(row[f"{s}_open"]) for s in alerts.SEVERITIES],
            "unacknowledged": [int(row[f"{s}_unack"]) for s in alerts.SEVERITIES],
        }
    )


def message_rate_of(kpis: pd.DataFrame) -> float | None:
    """Messages received per second by the live consumers (ingest_ledger), the whole network; None when no
    consumer wrote to the ledger in that time (not measured, rather than 0)."""
    row = kpis.iloc[0]
    return None if int(row["message_batches"]) == 0 else float(row["messages_per_s"])


def latency_of(kpis: pd.DataFrame) -> dict[str, float | int | None]:
    """samples and avg/p50/p95/p99/max of the end_to_end stage (None each when no sample)."""
    row = kpis.iloc[0]
    if pd.isna(row["latency_samples"]):
        return {"samples": 0} | dict.fromkeys(LATENCY)
    return {"samples": int(row["latency_samples"])} | {k: float(row[k]) for k in LATENCY}


# One figure of kpis(), for a caller that needs only that one (same statement, same values).
def metric_overview(engine: Engine, *, sensor_ids=None, now: datetime | None = None) -> pd.DataFrame:
    return overview_of(kpis(engine, sensor_ids=sensor_ids, now=now))


def readings_per_s(overview: pd.DataFrame) -> float:
    """Readings per second of the sensors behind a metric_overview, over its last complete minute."""
    return float(overview["readings"].sum()) / 60.0 if len(overview) else 0.0


def message_rate(engine: Engine, *, seconds: int = 60, now: datetime | None = None) -> float | None:
    return message_rate_of(kpis(engine, sensor_ids=(), now=now, seconds=seconds))


def end_to_end_latency(engine: Engine, *, minutes: int = 5) -> dict[str, float | int | None]:
    return latency_of(kpis(engine, sensor_ids=(), minutes=minutes))
