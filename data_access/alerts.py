"""Alerts as the dashboard sees them: open counts, the live feed, the distribution over a range, the workflow
history (alert_events) and silences; and the dashboard's only writes, the alert actions, each one call of a narrow
SECURITY DEFINER function of migration 0010 (the read-only role has no table write grant). The functions validate
everything; a refusal comes back as ActionRefused with a reason the UI translates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data_access.engine import DatabaseUnavailable
from data_access.queries import read, sql

SEVERITIES = ("critical", "warning", "info")
KINDS = ("threshold", "offline", "anomaly", "battery", "fault")
MAX_NAME = 100  # the functions' limits, given to the widgets (max_chars) so a person cannot type past them
MAX_TEXT = 2000
# SQLSTATE of a refusal -> the reason shown (migration 0010 raises these; 42501 = a privilege missing).
REFUSALS = {
    "MA001": "closed",
    "MA002": "acknowledged_by_other",
    "MA003": "silence_over",
    "P0002": "not_found",
    "22023": "invalid",
    "42501": "forbidden",
}


class ActionRefused(ValueError):
    """The database refused an alert action. `reason`: a value of REFUSALS (or "other"); `detail`: its message."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _ids(sensor_ids) -> list[str] | None:
    return None if sensor_ids is None else list(sensor_ids)


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


def events(engine: Engine, *, sensor_ids=None, since: datetime | None = None, limit: int = 200) -> pd.DataFrame:
    """The alert history (alert_events), most recent first: every action on alerts of these sensors and every
    silence set or lifted on them, since `since` (None = all), with the alert's kind and the sensor's name."""
    frame = read(engine, "alert_events", sensor_ids=_ids(sensor_ids), since=since, limit=int(limit))
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def silences(engine: Engine, *, sensor_ids=None, now: datetime | None = None) -> pd.DataFrame:
    """Silences not over at `now` (active, or planned), soonest end first; `active` says which are in force."""
    frame = read(engine, "alert_silences", sensor_ids=_ids(sensor_ids), now=now or datetime.now(UTC))
    for column in ("starts_at", "ends_at", "created_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _write(engine: Engine, name: str, **params):
    try:
        with engine.begin() as conn:
            return conn.execute(sql(name), params).scalar()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise DatabaseUnavailable(_first_line(exc)) from exc
    except sa.exc.DBAPIError as exc:
        raise ActionRefused(REFUSALS.get(getattr(exc.orig, "pgcode", None), "other"), _first_line(exc)) from exc


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


def acknowledge(engine: Engine, *, alert_id: int, actor: str, comment: str | None = None) -> bool:
    """Acknowledge as `actor`: True when done, False when there is no such alert (acknowledge_alert())."""
    return bool(_write(engine, "alerts_acknowledge", alert_id=int(alert_id), actor=actor, comment=comment))


def comment(engine: Engine, *, alert_id: int, actor: str, comment: str) -> int:
    """Add a comment to an open alert; returns the event id."""
    return _write(engine, "alerts_comment", alert_id=int(alert_id), actor=actor, comment=comment)


def assign(engine: Engine, *, alert_id: int, actor: str, assignee: str | None, comment: str | None = None) -> int:
    """Assign an open alert to `assignee` (None or blank: unassign it); returns the event id."""
    return _write(engine, "alerts_assign", alert_id=int(alert_id), actor=actor, assignee=assignee, comment=comment)


def resolve(engine: Engine, *, alert_id: int, actor: str, reason: str) -> int:
    """Close an open alert by hand with a reason (the engine reopens it if its condition persists or returns
    within its reopen window); returns the event id."""
    return _write(engine, "alerts_resolve", alert_id=int(alert_id), actor=actor, reason=reason)


def silence(
    engine: Engine,
    *,
    actor: str,
    sensor_id: str,
    metric: str | None,
    duration: timedelta,
    reason: str,
    starts_at: datetime | None = None,
) -> int:
    """Silence a sensor's metric (metric None: the whole sensor) for `duration` from `starts_at` (None: now);
    returns the silence id."""
    return _write(
        engine,
        "alerts_silence",
        actor=actor,
        sensor_id=sensor_id,
        metric=metric,
        duration=duration,
        reason=reason,
        starts_at=starts_at,
    )


def lift_silence(engine: Engine, *, silence_id: int, actor: str, comment: str | None = None) -> int:
    """End a silence now (or cancel a planned one); returns its id."""
    return _write(engine, "alerts_lift_silence", silence_id=int(silence_id), actor=actor, comment=comment)
