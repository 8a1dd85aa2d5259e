"""Raw readings and windows copied to an InfluxDB 2.x bucket (seeds 000/002: bucket `sensors_archive`, every 5 min).

Points (line protocol, microsecond precision):
- raw:     measurement = the metric (`temperature`), tags commune, kind, sensor_id; fields value (float) and
           status (integer: 0 ok, 1 warning, 2 critical, 3 fault — an integer so that every InfluxDB-protocol store
           keeps it; VictoriaMetrics drops string fields); time = the reading's time.
- windows: measurement = `<metric>_windows`, tags commune, kind, sensor_id, window (1m, 5m, 1h); fields avg, min, max
           (float), count, n_warning, n_critical, n_fault (integer), stddev when defined; time = window start.
Replay-safe: a point is identified by measurement + tags + time, so archiving the same rows again rewrites the same
points (a window updated by a late reading overwrites its earlier point). Written with influxdb-client's batching
write API; an error of any batch (after its own retries) fails the run and leaves the watermark where it was.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import WriteOptions, WriteType

from ingestion.archive.source import RAW, WINDOWS, Range, Source, Stream

log = logging.getLogger("ingestion.archive.influx")

TARGET = "influx"
STATUS_CODES = {"ok": 0, "warning": 1, "critical": 2, "fault": 3}
WINDOW_NAMES = {60: "1m", 300: "5m", 3600: "1h"}
_TAGS = ["commune", "kind", "sensor_id"]


class ArchiveTargetError(RuntimeError):
    """The target refused or could not be reached: nothing was acknowledged, the watermark stays."""


@dataclass(frozen=True)
class InfluxConfig:
    url: str = "http://127.0.0.1:8086"
    token: str = ""
    org: str = "madinina"
    bucket: str = "sensors_archive"
    batch_size: int = 5_000
    timeout_ms: int = 30_000
    max_retries: int = 3


def raw_points(table: pa.Table) -> dict[str, pd.DataFrame]:
    """One frame per measurement (metric): index = time, tag and field columns, as the client serialises them."""
    frame = table.select(["time", "sensor_id", "metric", "value", "status", "kind", "commune"]).to_pandas()
    frame["status"] = frame["status"].map(STATUS_CODES).fillna(0).astype("int64")
    out = {}
    for metric, group in frame.groupby("metric", sort=True):
        out[str(metric)] = group.set_index("time")[[*_TAGS, "value", "status"]]
    return out


def window_points(table: pa.Table) -> dict[str, pd.DataFrame]:
    size = pc.divide(
        pc.subtract(pc.cast(table["window_end"], pa.int64()), pc.cast(table["window_start"], pa.int64())), 1_000_000
    )
    frame = table.to_pandas()
    frame["window"] = pd.Series(size.to_numpy()).map(WINDOW_NAMES).fillna("other").to_numpy()
    fields = ["avg", "min", "max", "count", "n_warning", "n_critical", "n_fault", "stddev"]
    out = {}
    for metric, group in frame.groupby("metric", sort=True):
        out[f"{metric}_windows"] = group.set_index("window_start")[[*_TAGS, "window", *fields]]
    return out


@dataclass
class _Outcome:
    errors: list[str] = field(default_factory=list)
    lines: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self, _conf, data) -> None:
        with self.lock:
            self.lines += data.count(b"\n") + 1 if isinstance(data, bytes) else str(data).count("\n") + 1

    def error(self, _conf, _data, exc) -> None:
        with self.lock:
            self.errors.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}")


class InfluxArchiver:
    def __init__(self, source: Source, config: InfluxConfig, *, progress=print):
        self.source = source
        self.config = config
        self.progress = progress

    def _client(self) -> InfluxDBClient:
        return InfluxDBClient(
            url=self.config.url, token=self.config.token, org=self.config.org, timeout=self.config.timeout_ms
        )

    def run(self, streams: tuple[Stream, ...] = (RAW, WINDOWS)) -> dict[str, int]:
        """Archive every stream's new rows; returns rows archived per stream. Raises ArchiveTargetError (the
        watermarks stay) when the server refuses or cannot be reached after the client's retries."""
        done = {}
        for stream in streams:
            mark = self.source.mark(TARGET, stream.name)
            rng = self.source.plan(stream, mark.upto)
            done[stream.name] = self._archive(stream, rng)
            self.source.advance(TARGET, stream.name, rng.upto, done[stream.name])
        return done

    def _archive(self, stream: Stream, rng: Range) -> int:
        if not rng.rows:
            return 0
        outcome = _Outcome()
        started = time.monotonic()
        written = 0
        to_points = raw_points if stream is RAW else window_points
        options = WriteOptions(
            write_type=WriteType.batching,
            batch_size=self.config.batch_size,
            flush_interval=1_000,
            retry_interval=1_000,
            max_retries=self.config.max_retries,
            max_retry_delay=10_000,
            max_retry_time=60_000,
        )
        with (
            self._client() as client,
            client.write_api(
                write_options=options, success_callback=outcome.success, error_callback=outcome.error
            ) as writer,
        ):
            for day, table in self.source.batches(stream, rng):
                for measurement, frame in to_points(table).items():
                    writer.write(
                        self.config.bucket,
                        self.config.org,
                        record=frame,
                        data_frame_measurement_name=measurement,
                        data_frame_tag_columns=_TAGS if stream is RAW else [*_TAGS, "window"],
                        write_precision=WritePrecision.US,
                    )
                written += table.num_rows
                if outcome.errors:
                    break
                rate = written / max(time.monotonic() - started, 1e-9)
                self.progress(
                    f"archive influx {stream.name}: {day:%Y-%m-%d} {100 * written / rng.rows:5.1f}% "
                    f"({written:,}/{rng.rows:,} rows, {rate:,.0f} rows/s)"
                )
            # Leaving the write API flushes every batch and waits for the answers (success or error callbacks).
        if outcome.errors:
            raise ArchiveTargetError(
                f"InfluxDB at {self.config.url} refused or was unreachable ({outcome.errors[0]}); "
                f"{len(outcome.errors)} batch(es) failed, watermark kept at {rng.after}"
            )
        return written
