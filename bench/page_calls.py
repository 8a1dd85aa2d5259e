"""What each page really reads, recorded rather than listed: every page is run once in Streamlit's AppTest (its real
sidebar and page file, the URL parameters of the view measured, the dashboard clock pinned) against a database, with
components.data's cached read replaced by a recorder that notes each call (module, function, keyword arguments, the
`now` that load() adds included) and runs it uncached. bench/queries.py then times exactly these calls, so the
benchmark follows the pages when they change which queries they make, with no list to keep in step by hand.

A page that raises while recorded (e.g. a read over the dashboard's 15 s statement timeout) is reported with the
reads it had made, the failing one included (it was recorded before it ran): the benchmark times them without the
timeout, to say where the time goes.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2

# page: URL parameters of the view the benchmark measures (DESIGN §6: the Live page; Trends over 30 days).
PAGES: dict[str, dict[str, str]] = {
    "live": {},
    "trends": {"range": "30d"},
    "map": {},
    "sensor": {},
    "pipeline": {"range": "24h"},
}
_ENV_CLEARED = ("DASHBOARD_DATABASE_URL", "MADININA_READER_PASSWORD")


@dataclass(frozen=True)
class Call:
    """One read a page made through components.data.load: fn(engine, **kwargs)."""

    module: str
    name: str
    kwargs: tuple  # sorted (name, value) pairs, as load() passes them to the cache

    def __call__(self, engine):
        return getattr(importlib.import_module(self.module), self.name)(engine, **dict(self.kwargs))

    @property
    def label(self) -> str:
        return f"{self.module.rsplit('.', 1)[-1]}.{self.name}"


@contextmanager
def _environment(url: str, now: datetime) -> Iterator[None]:
    from components.clock import PIN_ENV

    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", PIN_ENV, *_ENV_CLEARED)}
    os.environ["DATABASE_URL"] = url
    os.environ[PIN_ENV] = now.isoformat()
    for name in _ENV_CLEARED:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def record(url: str, page: str, params: dict[str, str], now: datetime) -> list[Call]:
    """The reads one run of `page` makes on database `url` (owner URL; the page reads as the dashboard's role), the
    dashboard clock pinned at `now`, in the order the page makes them. Raises if the page raised."""
    calls, _, error = run_page(url, page, params, now)
    if error:
        raise RuntimeError(f"page {page} raised while recorded: {error}")
    return calls


def run_page(url: str, page: str, params: dict[str, str], now: datetime) -> tuple[list[Call], float, str | None]:
    """The page's reads, the seconds its script took (every read uncached: a first visit's server time), and the
    exception it raised, if any (its reads up to and including the failing one are in the list)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from components import data
    from tests.support.apptest import harness, restore_shipped_settings

    calls: list[Call] = []

    def recorder(module: str, name: str, kwargs: tuple):
        calls.append(Call(module, name, kwargs))
        return getattr(importlib.import_module(module), name)(data.engine(), **dict(kwargs))

    cached = data._cached
    data._cached = recorder
    try:
        with _environment(url, now):
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_string(harness(page), default_timeout=300)
            at.query_params = params
            started = time.perf_counter()
            at.run()
            seconds = time.perf_counter() - started
            error = None
            if at.exception:  # the line that names the error, not the SQL text the message carries
                lines = [line for line in at.exception[0].value.splitlines() if line.strip()] or ["?"]
                error = next((line for line in lines if "Error" in line or "canceling" in line), lines[0])[:300]
    finally:
        data._cached = cached
        restore_shipped_settings()
    return calls, seconds, error


def record_pages(
    url: str, now: datetime, pages: dict[str, dict[str, str]] = PAGES
) -> tuple[dict[str, list[Call]], dict[str, str]]:
    """Each page's distinct reads (a read a page makes twice with the same arguments in one run is served the second
    time by load()'s cache in the real app, so it is timed once), and the error of each page that raised."""
    calls, errors = {}, {}
    for page, params in pages.items():
        page_calls, _, error = run_page(url, page, params, now)
        calls[page] = list(dict.fromkeys(page_calls))
        if error:
            errors[page] = error
    return calls, errors


# What the pages read beside readings and windows, for a database built by bench/queries.py.
_ACTIVITY = """
DELETE FROM pipeline_kpi; DELETE FROM ingest_ledger; DELETE FROM stream_batches; DELETE FROM quarantine;
-- the alert history is append-only by trigger (migration 0010), even for the owner: a bench database re-seeds it with
-- triggers (and so foreign-key checks) off for the deletes, as the superuser it runs as
SET session_replication_role = replica;
DELETE FROM alert_notifications; DELETE FROM alert_events; DELETE FROM alert_silences;
SET session_replication_role = origin;
DELETE FROM alerts; DELETE FROM ingest_status;
-- the lite consumer: a batch every 0.5 s (4 stages each) from 24 h before the data's end to now()
INSERT INTO pipeline_kpi (time, stage, latency_ms, rows, batch_id, processor)
SELECT b.t, st.stage, st.base * (1 + (abs(hashint4(b.i)) %% 100) / 50.0), 120, 'lite-' || b.i, 'lite'
  FROM (SELECT i, %(end)s::timestamptz - interval '24 hours' + i * interval '0.5 s' AS t
          FROM generate_series(0, (extract(epoch FROM greatest(%(end)s::timestamptz, now())
                                           - %(end)s::timestamptz) + 86400)::int * 2) i) b
 CROSS JOIN (VALUES ('source_to_broker', 5.0), ('broker_to_processor', 40.0), ('processor_to_db', 250.0),
                    ('end_to_end', 300.0)) st(stage, base);
INSERT INTO ingest_ledger (batch_id, committed_at, processor, source, received, stored, duplicates, quarantined,
                           quarantine_duplicates)
SELECT DISTINCT ON (batch_id) batch_id, time, 'lite', 'mqtt', 30, 120, 0, 0, 0 FROM pipeline_kpi;
INSERT INTO ingest_ledger (batch_id, committed_at, processor, source, received, stored, duplicates, quarantined,
                           quarantine_duplicates)
SELECT 'backfill-' || i, %(end)s::timestamptz - interval '23 hours' + i * interval '1 s', 'backfill', 'backfill',
       100000, 100000, 0, 0, 0 FROM generate_series(0, 23) i;
INSERT INTO stream_batches (processor, query_id, batch_id, time, received, stored, duplicates, quarantined,
                            late_dropped, windows)
SELECT 'spark', 'bench', i, %(end)s::timestamptz - interval '3 hours' + i * interval '1 s', 240, 238, 0, 2, 0, 240
  FROM generate_series(0, 3599) i;
INSERT INTO quarantine (received_at, source, payload, reason, detail, fingerprint)
SELECT %(end)s::timestamptz - i * interval '17 s', 'mqtt', '{"sensor_id": "ghost-' || i || '", "value": ' || i || '}',
       (ARRAY['unknown_sensor', 'out_of_range', 'bad_json', 'missing_field', 'stale'])[1 + i %% 5], 'bench #' || i,
       md5('bench' || i)
  FROM generate_series(0, 4999) i;
INSERT INTO alerts (sensor_id, metric, kind, severity, opened_at, last_seen_at, closed_at, value, threshold, message)
SELECT s.sensor_id, 'pm10', (ARRAY['threshold', 'anomaly', 'battery'])[1 + i %% 3],
       (ARRAY['warning', 'critical', 'info'])[1 + i %% 3], o, o, CASE WHEN i < 3 THEN NULL ELSE o + interval '40 min' END,
       85, 80, 'bench'
  FROM (SELECT sensor_id, row_number() OVER (ORDER BY sensor_id) AS k FROM sensors) s
 CROSS JOIN generate_series(0, 39) i
 CROSS JOIN LATERAL (SELECT %(end)s::timestamptz - (i * 2.25 + s.k / 60.0) * interval '1 day' AS o) x;
INSERT INTO ingest_status (consumer, updated_at, host, pid, state, spool_depth, last_commit_at)
VALUES ('consume', %(end)s, 'bench', 1, 'running', 0, %(end)s),
       ('consume-kafka', %(end)s, 'bench', 2, 'running', 12, %(end)s);
"""


def data_end(url: str) -> datetime:
    """The newest reading of the bench database: the pages are recorded with the dashboard clock pinned there."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT max(time) FROM sensor_latest")
        return cur.fetchone()[0].astimezone(UTC)


def seed_activity(url: str, end: datetime) -> None:
    """What the pages read beside readings and windows, re-seeded at every run relative to `end` (and up to the
    database's now(), which get_pipeline_latency_stats counts from)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(_ACTIVITY, {"end": end})
        cur.execute("ANALYZE pipeline_kpi, ingest_ledger, stream_batches, quarantine, alerts, ingest_status")
