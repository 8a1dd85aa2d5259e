"""The dashboard's one notion of "now".

Every time-dependent decision of the pages (preset ranges, the Live series window, freshness ages, battery
forecasts, the "now" passed to data_access reads) takes its instant from `now()`. Tests pin it to a fixed instant
with the MADININA_DASHBOARD_NOW environment variable (ISO-8601 with offset) and seed their data relative to that
instant, so no test depends on where the wall clock is in a minute. Production never sets it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

PIN_ENV = "MADININA_DASHBOARD_NOW"


def pinned() -> datetime | None:
    """The pinned instant (UTC), or None when the wall clock is used. A malformed value is ignored: a clock hook
    must never break a page."""
    raw = os.environ.get(PIN_ENV)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return pinned() or datetime.now(UTC)


def query_now(grain_s: int) -> datetime:
    """now() floored to grain_s seconds: the instant passed to cached reads, so that sessions asking within the same
    grain share one cached result (the cache lives grain_s seconds anyway)."""
    moment = now()
    return datetime.fromtimestamp(int(moment.timestamp()) // grain_s * grain_s, UTC)
