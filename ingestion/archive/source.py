"""What the archives read: new rows of the database since a watermark, by the database's commit clock.

Every stream is read by the instant its rows were committed (sensor_data.ingested_at, sensor_data_agg.updated_at,
quarantine.inserted_at — all `now()`, the committing transaction's start), never by event time: a late reading or
a message that waited in a spool during an outage is committed long after its event time, and would be missed.
A run reads (watermark, bound] where bound = the database's now() - lag: a transaction that began before the bound
may still be committing, and `lag` (default 60 s, far above a batch's transaction) keeps the read behind all of
them. The watermark advances to the bound only after the target acknowledged every row (archive_watermarks).

Rows travel as COPY ... TO STDOUT (CSV, times as integer microseconds: exact and cheap) into Arrow, one event day at
a time, so the first archival of a long history shows progress and never holds it all in memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

DEFAULT_LAG_S = 60.0
_MIN = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True)
class Stream:
    """One incremental stream: its table, commit clock, event-time column and the SELECT list of a day's rows."""

    name: str
    table: str
    clock: str
    event: str
    select: str
    columns: tuple[tuple[str, pa.DataType], ...]


def _us(expr: str) -> str:
    return f"(extract(epoch FROM {expr}) * 1000000)::bigint"


_STRING, _FLOAT, _INT = pa.string(), pa.float64(), pa.int64()

RAW = Stream(
    "raw",
    "sensor_data d LEFT JOIN sensors s ON s.sensor_id = d.sensor_id",
    "d.ingested_at",
    "d.time",
    f"{_us('d.time')}, d.sensor_id, d.metric, d.value, d.status, {_us('d.ingested_at')},"
    " coalesce(s.kind, 'unknown'), coalesce(s.commune, 'unknown')",
    (
        ("time", _INT), ("sensor_id", _STRING), ("metric", _STRING), ("value", _FLOAT), ("status", _STRING),
        ("ingested_at", _INT), ("kind", _STRING), ("commune", _STRING),
    ),
)  # fmt: skip

WINDOWS = Stream(
    "windows",
    "sensor_data_agg a LEFT JOIN sensors s ON s.sensor_id = a.sensor_id",
    "a.updated_at",
    "a.window_start",
    f"{_us('a.window_start')}, {_us('a.window_end')}, a.sensor_id, a.metric, a.avg, a.min, a.max, a.count,"
    f" a.stddev, a.n_warning, a.n_critical, a.n_fault, {_us('a.updated_at')},"
    " coalesce(s.kind, 'unknown'), coalesce(s.commune, 'unknown')",
    (
        ("window_start", _INT), ("window_end", _INT), ("sensor_id", _STRING), ("metric", _STRING),
        ("avg", _FLOAT), ("min", _FLOAT), ("max", _FLOAT), ("count", _INT), ("stddev", _FLOAT),
        ("n_warning", _INT), ("n_critical", _INT), ("n_fault", _INT), ("updated_at", _INT),
        ("kind", _STRING), ("commune", _STRING),
    ),
)  # fmt: skip

QUARANTINE = Stream(
    "quarantine",
    "quarantine q",
    "q.inserted_at",
    "q.received_at",
    f"q.quarantine_id, {_us('q.received_at')}, q.source, q.payload, q.reason, q.detail, {_us('q.inserted_at')}",
    (
        ("quarantine_id", _INT), ("received_at", _INT), ("source", _STRING), ("payload", _STRING),
        ("reason", _STRING), ("detail", _STRING), ("inserted_at", _INT),
    ),
)  # fmt: skip

_TIME_COLUMNS = {"time", "ingested_at", "window_start", "window_end", "updated_at", "received_at", "inserted_at"}


@dataclass(frozen=True)
class Mark:
    upto: datetime | None  # None: nothing archived yet
    rows_total: int = 0
    runs: int = 0


@dataclass(frozen=True)
class Range:
    """(after, upto] of the commit clock, and the event days holding its rows with their counts."""

    after: datetime | None
    upto: datetime
    days: list[tuple[datetime, int]]

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.days)


class Source:
    """The database side of an archive run: watermarks, ranges and rows. One connection (writer role)."""

    def __init__(self, dsn: str, *, lag_s: float = DEFAULT_LAG_S):
        self.dsn = dsn
        self.lag_s = lag_s
        self._conn = None

    def connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.dsn, application_name="madinina-archive", connect_timeout=5)
            self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    # -- watermarks -----------------------------------------------------------------------------------------------
    def mark(self, target: str, stream: str) -> Mark:
        with self.connection().cursor() as cur:
            cur.execute(
                "SELECT upto_time, rows_total, runs FROM archive_watermarks WHERE target = %s AND stream = %s",
                (target, stream),
            )
            row = cur.fetchone()
        return Mark(*row) if row else Mark(None)

    def advance(self, target: str, stream: str, upto: datetime, rows: int) -> None:
        with self.connection().cursor() as cur:
            cur.execute(
                "INSERT INTO archive_watermarks (target, stream, upto_time, rows_total, runs, updated_at)"
                " VALUES (%s, %s, %s, %s, 1, now())"
                " ON CONFLICT (target, stream) DO UPDATE SET"
                " upto_time = greatest(archive_watermarks.upto_time, excluded.upto_time),"
                " rows_total = archive_watermarks.rows_total + excluded.rows_total,"
                " runs = archive_watermarks.runs + 1, updated_at = now()",
                (target, stream, upto, rows),
            )

    # -- ranges and rows --------------------------------------------------------------------------------------------
    def bound(self) -> datetime:
        with self.connection().cursor() as cur:
            cur.execute("SELECT now() - make_interval(secs => %s)", (self.lag_s,))
            return cur.fetchone()[0]

    def plan(self, stream: Stream, after: datetime | None, upto: datetime | None = None) -> Range:
        """The event days with rows committed in (after, upto]; upto defaults to the bound (now - lag)."""
        upto = upto or self.bound()
        with self.connection().cursor() as cur:
            cur.execute(
                f"SELECT date_bin('1 day', {stream.event}, timestamptz '2000-01-01') AS day, count(*)"
                f" FROM {stream.table} WHERE {stream.clock} > %s AND {stream.clock} <= %s GROUP BY 1 ORDER BY 1",
                (after or _MIN, upto),
            )
            days = [(day, int(n)) for day, n in cur.fetchall()]
        return Range(after, upto, days)

    def day_rows(self, stream: Stream, rng: Range, day: datetime) -> pa.Table:
        """The rows of one event day in the range, times as timestamp[us, UTC]."""
        conn = self.connection()
        with conn.cursor() as cur:
            # COPY takes no server-side parameters: psycopg2 binds them client-side (quoted, typed) with mogrify.
            query = cur.mogrify(
                f"COPY (SELECT {stream.select} FROM {stream.table}"
                f" WHERE {stream.clock} > %s AND {stream.clock} <= %s"
                f" AND {stream.event} >= %s AND {stream.event} < %s) TO STDOUT WITH (FORMAT csv)",
                (rng.after or _MIN, rng.upto, day, day + timedelta(days=1)),
            ).decode()
            sink = io.BytesIO()
            cur.copy_expert(query, sink)
        names = [name for name, _ in stream.columns]
        if not sink.getvalue():  # pyarrow refuses an empty CSV
            table = pa.schema(list(stream.columns)).empty_table()
        else:
            table = pacsv.read_csv(
                io.BytesIO(sink.getvalue()),
                read_options=pacsv.ReadOptions(column_names=names),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict(stream.columns), strings_can_be_null=False, quoted_strings_can_be_null=False
                ),
            )
        for i, name in enumerate(table.column_names):
            if name in _TIME_COLUMNS:
                table = table.set_column(i, name, pc.cast(table[name], pa.timestamp("us", tz="UTC")))
        return table

    def batches(self, stream: Stream, rng: Range) -> Iterator[tuple[datetime, pa.Table]]:
        for day, _ in rng.days:
            yield day, self.day_rows(stream, rng, day)
