"""Alerts as the dashboard sees them: open counts, the live feed, the distribution over a range, and the one
write the dashboard makes — acknowledging an alert through the SECURITY DEFINER function acknowledge_alert()."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data_access.engine import DatabaseUnavailable
from data_access.queries import read, sql

SEVERITIES = ("critical", "warning", "info")
KINDS = ("threshold", "offline", "anomaly", "battery", "fault")
MAX_BY = 100  # acknowledge_alert() limits, checked here too for a clear message before the round trip
MAX_COMMENT = 2000


class AcknowledgeError(ValueError):
    """The acknowledgement was refused (bad input, or the database refused it); the message is for people."""


def _ids(sensor_ids) -> list[str] | None:
    return None if sensor_ids is None else list(sensor_ids)


def open_counts(engine: Engine, *, sensor_ids=None) -> pd.DataFrame:
    """One row per severity (critical, warning, info — always all three): open_alerts, unacknowledged."""
    frame = read(engine, "alerts_open_counts", sensor_ids=_ids(sensor_ids)).set_index("severity")
    frame = frame.reindex(list(SEVERITIES), fill_value=0).astype("int64")
    return frame.rename_axis("severity").reset_index()


def feed(engine: Engine, *, sensor_ids=None, limit: int = 50, closed_hours: int = 24, now=None) -> pd.DataFrame:
    """Open alerts then those closed in the last `closed_hours` hours, most severe and most recent first."""
    frame = read(
        engine,
        "alerts_feed",
        sensor_ids=_ids(sensor_ids),
        limit=int(limit),
        closed_hours=int(closed_hours),
        now=now or datetime.now(UTC),
    )
    for column in ("opened_at", "last_seen_at", "closed_at", "acknowledged_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def distribution(engine: Engine, *, start: datetime, end: datetime, sensor_ids=None) -> pd.DataFrame:
    """Alerts opened in [start, end): columns dimension (kind | commune | hour), key, severity, alerts. Hours
    are of the day in Martinique time, '00' to '23'."""
    frame = read(engine, "alerts_distribution", start=start, end=end, sensor_ids=_ids(sensor_ids))
    frame["alerts"] = frame["alerts"].astype("int64")
    return frame


def acknowledge(engine: Engine, *, alert_id: int, by: str, comment: str | None) -> bool:
    """Acknowledge one alert as `by` with an optional comment. True when the alert exists (and is now
    acknowledged), False when there is no such alert. Raises AcknowledgeError on refused input and
    DatabaseUnavailable when the database cannot be reached."""
    by = (by or "").strip()
    comment = (comment or "").strip() or None
    if not by or len(by) > MAX_BY:
        raise AcknowledgeError(f"name: 1 to {MAX_BY} characters")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise AcknowledgeError(f"comment: at most {MAX_COMMENT} characters")
    try:
        with engine.begin() as conn:
            found = conn.execute(sql("alerts_acknowledge"), {"alert_id": int(alert_id), "by": by, "comment": comment})
            return bool(found.scalar())
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise DatabaseUnavailable(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)) from exc
    except sa.exc.DBAPIError as exc:  # e.g. SQLSTATE 22023 from the function's own checks, or a privilege error
        raise AcknowledgeError(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)) from exc
