"""What the Spark job's tests share (tests/integration/test_spark_*.py): a local session, input files, running the
lite processor and the job on the same input, and comparing the tables they write."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import psycopg2

from ingestion.catalogue import SENSORS
from ingestion.processor import LiteProcessor
from ingestion.simulator import FaultConfig, Simulator
from ingestion.validation import Validator
from ingestion.writer import Writer
from tests.support.services import require

START = 1_793_000_000.0  # 2026-10-27T08:53:20Z, well in the past: nothing is "in the future"
REL = 1e-9


def java_available() -> bool:
    from ingestion.spark.session import ensure_java

    ensure_java()
    java = Path(os.environ.get("JAVA_HOME", "/nonexistent"), "bin", "java")
    return java.exists() or shutil.which("java") is not None


def local_spark(cores: int = 2):
    require(java_available(), "Java 17 (Debian package openjdk-17-jre-headless)")
    from ingestion.spark.session import local_session

    return local_session(cores)


# -- input ------------------------------------------------------------------------------------------------------


def simulated_messages(ticks: int, *, step: float = 10.0, faults: FaultConfig | None = None) -> list[list[bytes]]:
    """Messages of three simulators (multi-metric, single-reading, NGSI-LD shapes) on disjoint sensors, per tick."""
    faults = faults or FaultConfig()
    sims = [
        Simulator(SENSORS[0::3], seed=1, faults=faults, fmt="multi"),
        Simulator(SENSORS[1::3], seed=2, faults=faults, fmt="single"),
        Simulator(SENSORS[2::3], seed=3, faults=faults, fmt="ngsi"),
    ]
    return [[m.replace(b"\n", b" ") for sim in sims for m in sim.tick(START + k * step)] for k in range(ticks)]


def write_lines(directory: Path, index: int, lines: list[bytes | str]) -> Path:
    """A JSON-lines file whose modification time orders it (Spark reads the files in that order)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"batch-{index:05d}.jsonl"
    path.write_bytes(b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines))
    os.utime(path, (1_700_000_000 + index, 1_700_000_000 + index))
    return path


def simulated_files(directory: Path, *, ticks: int, per_file: int, step: float = 10.0, faults=None) -> list[Path]:
    ticked = simulated_messages(ticks, step=step, faults=faults)
    return [
        write_lines(directory, f, [m for tick in ticked[f * per_file : (f + 1) * per_file] for m in tick])
        for f in range(math.ceil(ticks / per_file))
    ]


def file_lines(path: Path) -> list[bytes]:
    """The messages of a JSON-lines file as Spark's text source (lineSep "\\n") reads them."""
    data = path.read_bytes()
    return data.removesuffix(b"\n").split(b"\n") if data else []


# -- the two processors -------------------------------------------------------------------------------------------


def run_lite(files: list[Path], dsn: str) -> LiteProcessor:
    """The lite processor on the files, one batch (one Writer.commit) per file."""
    with Writer(dsn, processor="lite") as writer:
        processor = LiteProcessor(writer, Validator(source="files"), max_batch=10_000_000)
        for path in files:
            for line in file_lines(path):
                processor.submit(line)
            processor.flush()
    return processor


def run_spark(spark, dsn: str, checkpoint: Path, *, timeout: float = 900, **source):
    """An available-now run of the job; `source` as JobConfig fields (default: files of `path`, one per batch)."""
    from ingestion.spark.job import JobConfig, run_until_done

    source = {"source": "files", "max_files_per_trigger": 1, **source}
    config = JobConfig(checkpoint=str(checkpoint), trigger="available-now", database_url=dsn, **source)
    query, totals = run_until_done(spark, config, timeout=timeout)
    assert not query.isActive, "available-now run did not finish"
    assert query.exception() is None, query.exception()
    return totals


# -- comparisons ------------------------------------------------------------------------------------------------

RAW_SQL = "SELECT sensor_id, metric, time, value, status FROM sensor_data ORDER BY 1, 2, 3"
LATEST_SQL = "SELECT sensor_id, metric, time, value, status FROM sensor_latest ORDER BY 1, 2"
AGG_SQL = """SELECT sensor_id, metric, window_start, window_end, count, n_warning, n_critical, n_fault,
                    avg, min, max, stddev, sum_value, sum_sq
               FROM sensor_data_agg ORDER BY 1, 2, 3, 4"""
AGG_FLOATS = 8  # columns from index 8 on are floats
STDDEV = AGG_FLOATS + 3  # index of stddev in AGG_SQL rows; sum_sq is the last column
LEDGER_SQL = """SELECT coalesce(sum(received), 0), coalesce(sum(stored), 0), coalesce(sum(duplicates), 0),
                       coalesce(sum(quarantined), 0), coalesce(sum(quarantine_duplicates), 0)
                  FROM ingest_ledger"""


def rows(dsn: str, sql: str, args: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def execute(dsn: str, sql: str, args: tuple = ()) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
    finally:
        conn.close()


def close(a, b, rel=REL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0) or a == b


def stddev_close(a, b, count: int, sum_sq: float) -> bool:
    """Both processors compute stddev = sqrt((sum_sq - sum^2/n) / (n - 1)) (the writer's formula), but merge the
    values in a different order: the numerator then differs by a few ulps of sum_sq, which the square root
    turns into an absolute difference of about sqrt(ulps * sum_sq / (n - 1)) when the values are (nearly) equal."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL, abs_tol=math.sqrt(64 * 2.3e-16 * abs(sum_sq) / max(count - 1, 1)))


def assert_same_tables(lite_dsn: str, spark_dsn: str) -> dict[str, int]:
    """sensor_data, sensor_latest and sensor_data_agg equal: keys, counts and statuses exactly, floats within
    1e-9 relative (every column of DESIGN.md §2, plus sum_value and sum_sq), stddev within its rounding bound."""
    sizes = {}
    for name, sql, floats_from in (("raw", RAW_SQL, 3), ("latest", LATEST_SQL, 3), ("agg", AGG_SQL, AGG_FLOATS)):
        lite, other = rows(lite_dsn, sql), rows(spark_dsn, sql)
        assert len(lite) == len(other), f"{name}: {len(lite)} rows (lite) vs {len(other)} (spark)"
        bad = []
        for a, b in zip(lite, other, strict=True):
            exact_a, exact_b = a[:floats_from], b[:floats_from]
            if name != "agg":  # status after the value
                exact_a, exact_b = exact_a + a[4:], exact_b + b[4:]
            floats = [(i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=True)) if i >= floats_from]
            if exact_a != exact_b or not all(
                stddev_close(x, y, a[4], a[-1]) if name == "agg" and i == STDDEV else close(x, y)
                for i, x, y in floats
                if not isinstance(x, str)
            ):
                bad.append((a, b))
        assert not bad, f"{name}: {len(bad)} rows differ, first: {bad[:3]}"
        sizes[name] = len(lite)
    return sizes


def batch_log(dsn: str) -> list[tuple]:
    return rows(dsn, "SELECT batch_id, received, stored, duplicates, quarantined FROM stream_batches ORDER BY batch_id")


def no_double_kpi(dsn: str) -> bool:
    """pipeline_kpi: one row per stage and commit, never two (a replayed commit writes none)."""
    return rows(dsn, "SELECT batch_id, stage FROM pipeline_kpi GROUP BY 1, 2 HAVING count(*) > 1") == []
