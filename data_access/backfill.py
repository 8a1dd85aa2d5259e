"""Read of the backfill's progress (table backfill_progress, migration 0011), for the banner every page shows
while history is being written. Same conventions as data_access.queries: fn(engine, *, ...) -> DataFrame."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from data_access.queries import _utc, read


def backfill_progress(engine: Engine, *, now: datetime | None = None):
    """The running backfill (at most one row): readings_total / readings_done, eta_s, covered_from (history is
    complete from there to range_end), phase; empty when none runs."""
    frame = read(engine, "backfill_progress", now=now or datetime.now(UTC))
    return _utc(frame, "covered_from", "range_start", "range_end", "updated_at")
