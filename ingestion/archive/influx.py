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

import pyarrow as pa
import pyarrow.compute as pc
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import WriteOptions, WriteType

from ingestion.archive.source import RAW, WINDOWS, Range, Source, Stream

log = logging.getLogger("ingestion.archive.influx")

TARGET = "influx"
STATUS_CODES = {"ok": 0, "warning": 1, "critical": 2, "fault": 3}
WINDOW_NAMES = {60: "1m", 300: "5m", 3600: "1h"}


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


def _escape(column: pa.ChunkedArray | pa.Array, chars: str) -> pa.Array:
    """Line-protocol escaping (backslash before each of `chars`), computed on the distinct values only."""
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    dictionary = encoded.dictionary
    for ch in chars:
        dictionary = pc.replace_substring(dictionary, ch, "\\" + ch)
    return pc.take(dictionary, encoded.indices)


def _text(column) -> pa.Array:
    # Arrow formats a double as its shortest round-trip decimal (22.5, 1e+20): the point keeps the exact value.
    return pc.cast(column, pa.string())


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _tags(table: pa.Table) -> pa.Array:
    return _join(
        ",commune=", _escape(table["commune"], " ,="), ",kind=", _escape(table["kind"], " ,="),
        ",sensor_id=", _escape(table["sensor_id"], " ,="),
    )  # fmt: skip


def raw_lines(table: pa.Table) -> pa.Array:
    """One line per reading: <metric>,commune=..,kind=..,sensor_id=.. value=<float>,status=<code>i <time µs>."""
    status = pc.take(
        pa.array([f"{code}i" for code in STATUS_CODES.values()]),
        pc.index_in(table["status"], pa.array(list(STATUS_CODES))).fill_null(0),
    )
    return _join(
        _escape(table["metric"], " ,"), _tags(table), " value=", _text(table["value"]), ",status=", status,
        " ", _text(pc.cast(table["time"], pa.int64())),
    )  # fmt: skip


def window_lines(table: pa.Table) -> pa.Array:
    """One line per window: <metric>_windows,<tags>,window=1m avg=..,min=..,max=..,count=..i,... <start µs>."""
    start = pc.cast(table["window_start"], pa.int64())
    size = pc.divide(pc.subtract(pc.cast(table["window_end"], pa.int64()), start), 1_000_000)
    window = pc.take(
        pa.array([*WINDOW_NAMES.values(), "other"]),
        pc.index_in(size, pa.array(list(WINDOW_NAMES), pa.int64())).fill_null(len(WINDOW_NAMES)),
    )
    stddev = pc.if_else(pc.is_null(table["stddev"]), "", _join(",stddev=", _text(table["stddev"])))
    return _join(
        _escape(table["metric"], " ,"), "_windows", _tags(table), ",window=", window,
        " avg=", _text(table["avg"]), ",min=", _text(table["min"]), ",max=", _text(table["max"]),
        ",count=", _text(table["count"]), "i,n_warning=", _text(table["n_warning"]),
        "i,n_critical=", _text(table["n_critical"]), "i,n_fault=", _text(table["n_fault"]), "i", stddev,
        " ", _text(start),
    )  # fmt: skip


def bodies(lines: pa.Array, size: int):
    """Request bodies of `size` lines each (one record each for the batching writer)."""
    for offset in range(0, len(lines), size):
        yield "\n".join(lines.slice(offset, size).to_pylist())


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
        to_lines = raw_lines if stream is RAW else window_lines
        options = WriteOptions(
            write_type=WriteType.batching,
            batch_size=1,  # each record is already a body of config.batch_size lines
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
                for body in bodies(to_lines(table), self.config.batch_size):
                    writer.write(self.config.bucket, self.config.org, record=body, write_precision=WritePrecision.US)
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
