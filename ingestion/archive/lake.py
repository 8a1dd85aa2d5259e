"""The lakehouse archive (seed 004's medallion, seed 003's Parquet archive): Delta tables written with deltalake.

Under one root directory (default .data/lake):
- bronze/  every message outcome as the database received it: the readings as accepted (outcome=stored: sensor,
           metric, event time, value, commit time) and the rejected messages (outcome=quarantined: raw payload text,
           reason, detail, source, received_at). Partitioned by day and outcome. (The accepted messages' original
           JSON is not kept anywhere after its commit — the spool deletes it — so bronze keeps the reading as
           accepted.)
- silver/  validated readings with their catalogue context (kind, commune) and status; partitioned by day and kind.
- gold/    the windows of sensor_data_agg (1 min, 5 min sliding, 1 h) with a `window` column; partitioned by day
           and kind; merged on (sensor_id, metric, window_start, window_end), so a window updated by a late reading
           replaces its row.
`day` is the UTC date of the event (reading time, window start, quarantine received_at) as 'YYYY-MM-DD'.

Incremental and exactly-once: each run reads the rows committed since the database watermark (source.py). A Delta
commit of one day's rows carries a Delta transaction (app id `<table>-<stream>-<day>`, version = the run's bound in
microseconds), so a run that died after some days were committed skips, on the next run, what those days already
hold: appends are never doubled, and the database watermark is advanced once every table has its rows.
Compaction: partitions touched by a run that hold more than `compact_files` files are compacted (optimize). A
retention option deletes whole days older than N days, then vacuums files no longer referenced.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from ingestion.archive.influx import WINDOW_NAMES
from ingestion.archive.source import QUARANTINE, RAW, WINDOWS, Range, Source, Stream

log = logging.getLogger("ingestion.archive.lake")

TARGET = "delta"
_TS = pa.timestamp("us", tz="UTC")
_S, _F, _I = pa.string(), pa.float64(), pa.int64()

SCHEMAS = {
    "bronze": pa.schema([
        ("day", _S), ("outcome", _S), ("sensor_id", _S), ("metric", _S), ("time", _TS), ("value", _F),
        ("committed_at", _TS), ("received_at", _TS), ("source", _S), ("payload", _S), ("reason", _S),
        ("detail", _S), ("quarantine_id", _I),
    ]),
    "silver": pa.schema([
        ("day", _S), ("kind", _S), ("time", _TS), ("sensor_id", _S), ("metric", _S), ("value", _F), ("status", _S),
        ("commune", _S), ("ingested_at", _TS),
    ]),
    "gold": pa.schema([
        ("day", _S), ("kind", _S), ("window", _S), ("window_start", _TS), ("window_end", _TS), ("sensor_id", _S),
        ("metric", _S), ("commune", _S), ("avg", _F), ("min", _F), ("max", _F), ("count", _I), ("stddev", _F),
        ("n_warning", _I), ("n_critical", _I), ("n_fault", _I), ("updated_at", _TS),
    ]),
}  # fmt: skip
PARTITIONS = {"bronze": ["day", "outcome"], "silver": ["day", "kind"], "gold": ["day", "kind"]}
# (table, stream) pairs, in the order a run writes them; the watermark of a stream advances after all its tables.
PLAN: tuple[tuple[Stream, tuple[str, ...]], ...] = (
    (RAW, ("bronze", "silver")),
    (WINDOWS, ("gold",)),
    (QUARANTINE, ("bronze",)),
)
_GOLD_KEYS = ("sensor_id", "metric", "window_start", "window_end")


def _day(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.strftime(column, format="%Y-%m-%d")


def _conform(table: pa.Table, name: str) -> pa.Table:
    schema = SCHEMAS[name]
    columns = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type) for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def shape(table_name: str, stream: Stream, rows: pa.Table) -> pa.Table:
    """A stream's rows (source.py columns) as the rows of one medallion table."""
    n = rows.num_rows
    if table_name == "silver":
        out = rows.append_column("day", _day(rows["time"]))
    elif table_name == "gold":
        size = pc.divide(pc.subtract(rows["window_end"].cast(_I), rows["window_start"].cast(_I)), 1_000_000)
        names = pa.array([WINDOW_NAMES.get(s, f"{s}s") for s in size.to_pylist()], _S)
        out = rows.append_column("day", _day(rows["window_start"])).append_column("window", names)
    elif stream is RAW:  # bronze, the readings as accepted
        out = rows.append_column("day", _day(rows["time"])).append_column("outcome", pa.array(["stored"] * n, _S))
        out = out.append_column("committed_at", rows["ingested_at"])
    else:  # bronze, the quarantined messages
        out = rows.append_column("day", _day(rows["received_at"]))
        out = out.append_column("outcome", pa.array(["quarantined"] * n, _S))
        out = out.append_column("committed_at", rows["inserted_at"])
    return _conform(out, table_name)


@dataclass(frozen=True)
class LakeConfig:
    root: Path
    compact_files: int = 8  # compact a touched partition holding more files than this
    retain_days: int | None = None  # delete days older than this (None: keep everything)
    vacuum_hours: int = 168  # files no longer referenced are removed after this long (Delta's default, 7 days)


class LakeArchiver:
    def __init__(self, source: Source, config: LakeConfig, *, progress=print):
        self.source = source
        self.config = config
        self.progress = progress

    def path(self, name: str) -> str:
        return str(Path(self.config.root) / name)

    def table(self, name: str) -> DeltaTable | None:
        path = self.path(name)
        return DeltaTable(path) if DeltaTable.is_deltatable(path) else None

    def run(self, plan=PLAN) -> dict[str, int]:
        """Archive every stream's new rows into its tables; returns the rows written per table. `plan` (a subset of
        PLAN) runs some streams only (the benchmark times them apart)."""
        written = {"bronze": 0, "silver": 0, "gold": 0}
        touched: dict[str, set[str]] = {name: set() for name in written}
        for stream, tables in plan:
            mark = self.source.mark(TARGET, stream.name)
            rng = self.source.plan(stream, mark.upto)
            started, done = time.monotonic(), 0
            for day, count in rng.days:
                for name in tables:
                    rows = self._day_rows(name, stream, rng, day)
                    if rows is None:
                        continue
                    written[name] += self._write(name, stream, rng, day, rows)
                    touched[name].update(rows["day"].unique().to_pylist() if rows.num_rows else [])
                done += count
                rate = done / max(time.monotonic() - started, 1e-9)
                self.progress(
                    f"archive delta {stream.name}: {day:%Y-%m-%d} {100 * done / rng.rows:5.1f}% "
                    f"({done:,}/{rng.rows:,} rows, {rate:,.0f} rows/s)"
                )
            self.source.advance(TARGET, stream.name, rng.upto, rng.rows)
        for name, days in touched.items():
            if days:
                self._compact(name, days)
        if self.config.retain_days is not None:
            self.apply_retention()
        return written

    # -- one day of one table --------------------------------------------------------------------------------------
    def _app_id(self, name: str, stream: Stream, day: datetime) -> str:
        return f"madinina-{name}-{stream.name}-{day:%Y-%m-%d}"

    def _day_rows(self, name: str, stream: Stream, rng: Range, day: datetime) -> pa.Table | None:
        """The day's rows not yet in this table (a run that died after committing this day wrote some)."""
        table = self.table(name)
        after = rng.after
        if table is not None:
            version = table.transaction_version(self._app_id(name, stream, day))
            if version is not None:
                done_upto = datetime.fromtimestamp(version / 1e6, UTC)
                if done_upto >= rng.upto:
                    return None
                after = max(after, done_upto) if after is not None else done_upto
        rows = self.source.day_rows(stream, replace(rng, after=after), day)
        return shape(name, stream, rows) if rows.num_rows else None

    def _write(self, name: str, stream: Stream, rng: Range, day: datetime, rows: pa.Table) -> int:
        version = int(rng.upto.timestamp() * 1e6)
        commit = CommitProperties(app_transactions=[Transaction(self._app_id(name, stream, day), version)])
        existing = self.table(name)
        if name == "gold" and existing is not None:
            predicate = " AND ".join(f"t.{k} = s.{k}" for k in ("day", "kind", *_GOLD_KEYS))
            (
                existing.merge(rows, predicate, source_alias="s", target_alias="t", commit_properties=commit)
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        else:
            write_deltalake(
                self.path(name),
                rows,
                partition_by=PARTITIONS[name],
                mode="append",
                commit_properties=commit,
            )
        return rows.num_rows

    # -- upkeep ------------------------------------------------------------------------------------------------------
    def _compact(self, name: str, days: set[str]) -> None:
        table = self.table(name)
        if table is None:
            return
        actions = pa.table(table.get_add_actions(flatten=True))
        part = PARTITIONS[name][0]
        column = f"partition.{part}"
        for day in sorted(days):
            files = pc.sum(pc.equal(actions[column], day)).as_py() or 0
            if files > self.config.compact_files:
                metrics = table.optimize.compact(partition_filters=[(part, "=", day)])
                log.info("%s %s compacted: %s", name, day, metrics.get("numFilesRemoved"))
                table = self.table(name)

    def apply_retention(self) -> dict[str, int]:
        """Delete the days older than retain_days from every table, then vacuum unreferenced files."""
        cutoff = (datetime.now(UTC) - timedelta(days=self.config.retain_days or 0)).strftime("%Y-%m-%d")
        deleted = {}
        for name in SCHEMAS:
            table = self.table(name)
            if table is None:
                continue
            # Bound as a literal of a fixed shape (a date we formatted), not user text.
            metrics = table.delete(f"day < '{cutoff}'")
            deleted[name] = int(metrics.get("num_deleted_rows", 0) or 0)
            table.vacuum(retention_hours=self.config.vacuum_hours, dry_run=False, enforce_retention_duration=False)
        return deleted


def spark_read(spark, root: str | Path, name: str):
    """A medallion table as a Spark DataFrame without the delta-spark jar (not obtainable here): the Parquet files
    of the table's CURRENT version (from its Delta log, so files replaced by a merge or a compaction but not yet
    vacuumed are not read twice), partition columns recovered from the day=/kind= paths. Exact as long as the
    table has no deletion vectors, which delta-rs does not write."""
    path = str(Path(root) / name)
    files = DeltaTable(path).file_uris()
    spark.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")  # day stays a string
    return spark.read.option("basePath", path).parquet(*files)
