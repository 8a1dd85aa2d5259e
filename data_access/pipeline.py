"""Reads of the Pipeline page: per-stage latency (get_pipeline_latency_stats), throughput over time from every
processor's batch records (ingest_ledger, stream_batches), freshness per sensor (worst first), quarantined messages
by reason with samples. Same conventions as data_access.queries:
fn(engine, *, ...) -> DataFrame, SQL in data_access/sql/pipeline_*.sql."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Engine

from data_access import queries
from data_access.queries import MAX_POINTS, read

STAGES = ("source_to_broker", "broker_to_processor", "processor_to_db", "end_to_end")
LATENCY_COLUMNS = ("samples", "avg_ms", "min_ms", "max_ms", "p50_ms", "p95_ms", "p99_ms")
THROUGHPUT_STEPS_S = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400)  # buckets: one minute when the range allows
SAMPLE_CHARS = 300  # payload characters shown per sample (the full length is given beside it)


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _all_stages(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per stage, in pipeline order; a stage without samples has samples 0 and NaN figures."""
    frame = frame.set_index("stage").reindex(list(STAGES))
    frame["samples"] = frame["samples"].fillna(0).astype("int64")
    for column in LATENCY_COLUMNS[1:]:
        frame[column] = frame[column].astype("float64")
    return frame.rename_axis("stage").reset_index()


def stage_latency(
    engine: Engine, *, seconds: int | None = None, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """Latency per stage: stage, samples, avg_ms, min_ms, max_ms, p50_ms, p95_ms, p99_ms (all four stages).
    With `seconds`: get_pipeline_latency_stats(seconds) — the last `seconds` up to the database's now(). With
    `start` and `end` (a custom range): the same figures over [start, end)."""
    if seconds is not None:
        frame = queries.latency_stats(engine, interval=f"{int(seconds)} seconds")
    elif start is not None and end is not None:
        frame = read(engine, "pipeline_latency_range", start=start, end=end)
    else:
        raise ValueError("stage_latency needs seconds, or start and end")
    return _all_stages(frame)


LATENCY_POINTS = 500  # buckets of the latency-over-time panel: a percentile needs a few batches per bucket


def latency_series(engine: Engine, *, start: datetime, end: datetime, step_s: int) -> pd.DataFrame:
    """Per bucket of step_s seconds in [start, end) and per stage: time (bucket start, UTC), stage, samples, p50_ms,
    p95_ms, p99_ms. Buckets without a batch are absent."""
    frame = _utc(read(engine, "pipeline_latency_series", start=start, end=end, step_s=int(step_s)), "time")
    frame["samples"] = frame["samples"].astype("int64")
    for column in ("p50_ms", "p95_ms", "p99_ms"):
        frame[column] = frame[column].astype("float64")
    return frame


def throughput_step(start: datetime, end: datetime, max_points: int = MAX_POINTS) -> int:
    """Bucket width for the throughput series: the narrowest of THROUGHPUT_STEPS_S giving at most max_points."""
    span = max((end - start).total_seconds(), 1.0)
    for step in THROUGHPUT_STEPS_S:
        if math.ceil(span / step) <= max_points:
            return step
    return THROUGHPUT_STEPS_S[-1] * math.ceil(span / THROUGHPUT_STEPS_S[-1] / max_points)


# The unit of `received` per processor: the lite consumers count the messages their transport handed over (a
# multi-metric message carries several readings); the backfill and the Spark sink count readings.
RECEIVED_UNIT = {"lite": "messages", "backfill": "readings", "spark": "readings"}
THROUGHPUT_COLUMNS = ("time", "processor", "source", "readings", "received", "batches")


def throughput(engine: Engine, *, start: datetime, end: datetime, step_s: int | None = None) -> pd.DataFrame:
    """Committed batches per bucket of step_s seconds (default throughput_step) in [start, end), per processor and
    source, from every processor's own batch record: time (bucket start, UTC), processor, source, readings (stored),
    received (in RECEIVED_UNIT[processor]), batches, readings_per_s, received_per_s. Buckets without a batch are
    absent."""
    step_s = int(step_s or throughput_step(start, end))
    frame = _utc(read(engine, "pipeline_throughput", start=start, end=end, step_s=step_s), "time")
    for column in ("readings", "received", "batches"):
        frame[column] = frame[column].astype("int64")
    frame["readings_per_s"] = frame["readings"] / step_s
    frame["received_per_s"] = frame["received"] / step_s
    return frame


# Worst first: a sensor that never reported, then offline, stale, online.
STATUS_RANK = {"never": 0, "offline": 1, "stale": 2, "online": 3}


def freshness(engine: Engine, *, sensor_ids=None, now: datetime | None = None) -> pd.DataFrame:
    """queries.sensor_status (last_time, age_s, status from each sensor's expected interval) for the given sensors
    (None = all), with `state` (status, or "never" for a sensor that never reported) and `lateness` (age / expected
    interval), worst first: by state, then the most late for its own interval."""
    frame = queries.sensor_status(engine, now=now)
    if sensor_ids is not None:
        frame = frame[frame["sensor_id"].isin(list(sensor_ids))].copy()
    frame["age_s"] = frame["age_s"].astype("float64")
    frame["state"] = frame["status"].where(frame["age_s"].notna(), "never")
    frame["lateness"] = frame["age_s"] / frame["expected_interval_s"].clip(lower=1).astype("float64")
    frame["_rank"] = frame["state"].map(STATUS_RANK)
    frame = frame.sort_values(["_rank", "lateness", "sensor_id"], ascending=[True, False, True], na_position="first")
    return frame.drop(columns="_rank").reset_index(drop=True)


def ingest_status(engine: Engine) -> pd.DataFrame:
    """One row per consumer (ingest_status heartbeats): consumer, host, pid, state, spool_depth, spool_bytes,
    spool_max_bytes, oldest_unsent_at, last_commit_at, last_error, updated_at, heartbeat_age_s."""
    frame = _utc(read(engine, "pipeline_ingest_status"), "oldest_unsent_at", "last_commit_at", "updated_at")
    for column in ("spool_depth", "spool_bytes", "spool_max_bytes"):
        frame[column] = frame[column].astype("int64")
    frame["heartbeat_age_s"] = frame["heartbeat_age_s"].astype("float64")
    return frame


def quarantine_counts(engine: Engine, *, start: datetime, end: datetime) -> pd.DataFrame:
    """Messages quarantined in [start, end) by reason: reason, messages, first_at, last_at, sources."""
    frame = _utc(read(engine, "pipeline_quarantine_counts", start=start, end=end), "first_at", "last_at")
    frame["messages"] = frame["messages"].astype("int64")
    return frame


def quarantine_samples(
    engine: Engine,
    *,
    start: datetime,
    end: datetime,
    reason: str | None = None,
    per_reason: int = 3,
    max_chars: int = SAMPLE_CHARS,
) -> pd.DataFrame:
    """The per_reason most recent messages of each reason (or of one reason) in [start, end): quarantine_id,
    received_at, source, reason, detail, payload (the first max_chars characters, as stored), payload_chars (full
    length). Display them with escape_payload: payloads are untrusted text."""
    frame = read(
        engine,
        "pipeline_quarantine_samples",
        start=start,
        end=end,
        reason=reason,
        per_reason=int(per_reason),
        max_chars=int(max_chars),
    )
    return _utc(frame, "received_at")


def escape_payload(text: str | None, payload_chars: int | None = None, max_chars: int = SAMPLE_CHARS) -> str:
    """Untrusted payload text made safe to show: control and other non-printable characters as escapes (\\n, \\t,
    \\x00, \\u200b ...), cut to max_chars with the number of characters left out."""
    if text is None:
        return ""
    out = []
    for ch in text[:max_chars]:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    total = payload_chars if payload_chars is not None else len(text)
    shown = min(len(text), max_chars)
    if total > shown:
        out.append(f"… (+{total - shown})")
    return "".join(out)
