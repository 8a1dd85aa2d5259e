"""The Spark job end to end on a local[2] session and real PostgreSQL: equivalence with the lite processor,
exactly-once across stops, replays and restarts, damaged checkpoints, late events, CLI and spark-submit.

Source: JSON-lines files (the Kafka source is not exercised here: no broker, no connector jar)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from ingestion.catalogue import SENSORS
from ingestion.processor import LiteProcessor
from ingestion.simulator import FaultConfig, Simulator
from ingestion.validation import Validator
from ingestion.writer import Writer
from tests.support.services import require

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START = 1_793_000_000.0  # 2026-10-27T08:53:20Z, well in the past: nothing is "in the future"
REL = 1e-9


def _java_available() -> bool:
    from ingestion.spark.job import ensure_java

    ensure_java()
    java = Path(os.environ.get("JAVA_HOME", "/nonexistent"), "bin", "java")
    return java.exists() or shutil.which("java") is not None


@pytest.fixture(scope="module")
def spark():
    require(_java_available(), "Java 17 (Debian package openjdk-17-jre-headless)")
    from ingestion.spark.job import local_session

    return local_session(2)


# -- input --------------------------------------------------------------------------------------------------


def simulated_files(directory: Path, *, ticks: int, per_file: int, step: float = 10.0, faults=None) -> list[Path]:
    """Messages of three simulators (multi-metric, single-reading, NGSI-LD shapes) on disjoint sensors, `per_file`
    ticks per JSON-lines file; modification times fixed in order so that Spark reads files in this order."""
    faults = faults or FaultConfig()
    sims = [
        Simulator(SENSORS[0::3], seed=1, faults=faults, fmt="multi"),
        Simulator(SENSORS[1::3], seed=2, faults=faults, fmt="single"),
        Simulator(SENSORS[2::3], seed=3, faults=faults, fmt="ngsi"),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for f in range(math.ceil(ticks / per_file)):
        lines = []
        for k in range(f * per_file, min(ticks, (f + 1) * per_file)):
            for sim in sims:
                lines += sim.tick(START + k * step)
        path = directory / f"batch-{f:05d}.jsonl"
        path.write_bytes(b"".join(m.replace(b"\n", b" ") + b"\n" for m in lines))
        os.utime(path, (1_700_000_000 + f, 1_700_000_000 + f))
        files.append(path)
    return files


def write_lines(directory: Path, index: int, lines: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"batch-{index:05d}.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.utime(path, (1_700_000_000 + index, 1_700_000_000 + index))


def hostile_lines() -> list[bytes]:
    """The hostile messages of the validation-stage test and the validator's poison corpus (where it exists) that
    are rejected as a whole, as JSON-lines: those without a line break (the files source splits lines at \\n, the
    lite reader here at any line boundary) and that the validator on this branch takes without raising."""
    from tests.integration.test_spark_transforms import MESSAGES, poison_corpus

    validator = Validator(source="files")
    lines = []
    for payload in [m for m in MESSAGES if m is not None] + poison_corpus():
        if payload.splitlines() != [payload] or payload in lines:
            continue
        try:
            result = validator.parse(payload)
        except Exception:  # noqa: BLE001 - such a message is the validator's bug, not this test's input
            continue
        # Rejections only: the readings of these messages lie days or decades away from the simulated ones, so
        # Spark would rightly count them late (beyond its watermark) where the lite processor has no watermark.
        if not result.readings:
            lines.append(payload)
    return lines


def run_lite(files: list[Path], dsn: str) -> LiteProcessor:
    with Writer(dsn, processor="lite") as writer:
        processor = LiteProcessor(writer, Validator(source="files"), max_batch=1_000_000)
        for path in files:
            for line in path.read_bytes().splitlines():
                processor.submit(line)
            processor.flush()
    return processor


def run_spark(spark, landing: Path, checkpoint: Path, dsn: str, *, max_files: int = 1, watermark="2 minutes"):
    from ingestion.spark.job import JobConfig, run_until_done

    config = JobConfig(
        source="files",
        path=str(landing),
        max_files_per_trigger=max_files,
        checkpoint=str(checkpoint),
        trigger="available-now",
        watermark=watermark,
        database_url=dsn,
    )
    query, totals = run_until_done(spark, config, timeout=240)
    assert not query.isActive, "available-now run did not finish"
    assert query.exception() is None
    return totals


def spark_db(pg_cluster) -> str:
    return pg_cluster.url(pg_cluster.fresh_database())


# -- comparisons ------------------------------------------------------------------------------------------------

RAW_SQL = "SELECT sensor_id, metric, time, value, status FROM sensor_data ORDER BY 1, 2, 3"
LATEST_SQL = "SELECT sensor_id, metric, time, value, status FROM sensor_latest ORDER BY 1, 2"
AGG_SQL = """SELECT sensor_id, metric, window_start, window_end, count, n_warning, n_critical, n_fault,
                    avg, min, max, stddev, sum_value, sum_sq
               FROM sensor_data_agg ORDER BY 1, 2, 3, 4"""
AGG_FLOATS = 8  # columns from index 8 on are floats


def rows(dsn: str, sql: str) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def close(a, b, rel=REL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0) or a == b


STDDEV = AGG_FLOATS + 3  # index of stddev in AGG_SQL rows; sum_sq is the last column


def stddev_close(a, b, count: int, sum_sq: float) -> bool:
    """Both processors compute stddev = sqrt((sum_sq - sum^2/n) / (n - 1)) (the writer's formula), but add the
    values up in a different order: the numerator then differs by a few ulps of sum_sq, which the square root
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


def quarantined(dsn: str) -> int:
    return rows(dsn, "SELECT count(*) FROM quarantine")[0][0]


def batch_log(dsn: str) -> list[tuple]:
    return rows(
        dsn,
        "SELECT batch_id, received, stored, duplicates, quarantined, late_dropped, windows FROM stream_batches"
        " ORDER BY batch_id",
    )


# -- tests --------------------------------------------------------------------------------------------------------


def test_same_input_same_tables_as_the_lite_processor(spark, pg_cluster, db_url, tmp_path):
    faults = FaultConfig(
        late_rate=0.02, max_late_s=60, duplicate_rate=0.02, malformed_rate=0.01, spike_rate=0.01, stuck_rate=0.01
    )
    files = simulated_files(tmp_path / "landing", ticks=48, per_file=6, faults=faults)  # 8 minutes, 8 files
    hostile = hostile_lines()
    files.append(tmp_path / "landing" / f"batch-{len(files):05d}.jsonl")
    files[-1].write_bytes(b"".join(line + b"\n" for line in hostile))
    os.utime(files[-1], (1_700_000_000 + len(files), 1_700_000_000 + len(files)))
    lite = run_lite(files, db_url)
    spark_dsn = spark_db(pg_cluster)
    started = time.monotonic()
    totals = run_spark(spark, tmp_path / "landing", tmp_path / "checkpoint", spark_dsn)
    elapsed = time.monotonic() - started

    sizes = assert_same_tables(db_url, spark_dsn)
    assert sizes["raw"] > 5_000 and sizes["agg"] > 1_000
    # Counts against what was sent: every message reached the lite processor, and the Spark job saw every
    # reading and rejection the validator makes of those messages (counted here, not by either processor).
    sent = [line for path in files for line in path.read_bytes().splitlines()]
    validator = Validator(source="files")
    items = [validator.parse(line) for line in sent]
    assert lite.totals.received == len(sent)
    assert totals.received == sum(len(r.readings) + len(r.rejections) for r in items)
    # The same outcome on both sides: readings stored, quarantined, repeats, and the reasons.
    t = lite.totals
    assert (totals.stored, totals.quarantined) == (t.stored, t.quarantined) == (sizes["raw"], quarantined(db_url))
    assert totals.duplicates == t.duplicates + t.quarantine_duplicates
    assert totals.by_reason == dict(t.by_reason)
    assert sum(b[2] for b in batch_log(spark_dsn)) == sizes["raw"]  # the job's durable log matches the data
    assert totals.late_dropped == 0  # every late message of this input is within the watermark
    # The same quarantine (reason and payload; details are worded by each processor).
    quarantine = "SELECT reason, payload, source FROM quarantine ORDER BY 1, 2"
    assert rows(db_url, quarantine) == rows(spark_dsn, quarantine)
    assert len(hostile) >= 40 and len(set(r[0] for r in rows(spark_dsn, quarantine))) >= 10
    # pipeline_kpi: one set of rows per micro-batch, processor 'spark'.
    kpi = rows(spark_dsn, "SELECT batch_id, stage, count(*) FROM pipeline_kpi GROUP BY 1, 2 HAVING count(*) > 1")
    assert kpi == []
    stages = rows(spark_dsn, "SELECT DISTINCT stage, processor FROM pipeline_kpi ORDER BY 1")
    assert ("end_to_end", "spark") in stages and ("processor_to_db", "spark") in stages
    print(f"\nequivalence: {sizes}, spark {elapsed:.1f}s for {totals.received:,} readings in {totals.batches} batches")


def test_stop_replay_and_restart_are_exactly_once(spark, pg_cluster, db_url, tmp_path):
    from ingestion.spark.job import JobConfig, start, stop_gracefully

    files = simulated_files(tmp_path / "landing", ticks=40, per_file=4, faults=FaultConfig(duplicate_rate=0.02))
    run_lite(files, db_url)  # the reference
    dsn = spark_db(pg_cluster)
    checkpoint = tmp_path / "checkpoint"
    config = JobConfig(
        source="files",
        path=str(tmp_path / "landing"),
        max_files_per_trigger=1,
        checkpoint=str(checkpoint),
        trigger="0 seconds",
        database_url=dsn,
    )
    # 1. Stop mid-stream, gracefully, after a few micro-batches.
    query, sink = start(spark, config)
    deadline = time.monotonic() + 120
    while len(batch_log(dsn)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    stop_gracefully(query, 30, sink)
    sink.close()
    done = len(batch_log(dsn))
    assert 3 <= done < len(files), f"{done} batches before the stop"
    committed = sorted(int(p.name) for p in (checkpoint / "commits").iterdir() if p.name.isdigit())
    assert committed[-1] == done - 1, "graceful: every batch written was committed"

    # 2. A crash between the sink's writes and Spark's commit: the last batch is written but not committed
    # (Spark plans batch n + 1 only after committing n, so nothing after it is planned either).
    last = committed[-1]
    for log_dir, first in (("commits", last), ("offsets", last + 1)):
        for entry in (checkpoint / log_dir).iterdir():
            if entry.name.isdigit() and int(entry.name) >= first:
                entry.unlink()
                (checkpoint / log_dir / f".{entry.name}.crc").unlink(missing_ok=True)

    # 3. Restart from the checkpoint: the uncommitted batch is replayed (and skipped by the sink), the rest runs.
    totals = run_spark(spark, tmp_path / "landing", checkpoint, dsn)
    assert totals.skipped == 1
    log = batch_log(dsn)
    assert [b[0] for b in log] == list(range(len(log)))  # no batch twice, none missing
    assert_same_tables(db_url, dsn)  # no duplicate, no gap, windows as if never interrupted
    kpi = rows(dsn, "SELECT batch_id, stage, count(*) FROM pipeline_kpi GROUP BY 1, 2 HAVING count(*) > 1")
    assert kpi == []
    stored = sum(b[2] for b in log)
    assert stored == rows(dsn, "SELECT count(*) FROM sensor_data")[0][0]

    # 4. The same checkpoint again: nothing new, nothing changes.
    before = rows(dsn, AGG_SQL)
    totals = run_spark(spark, tmp_path / "landing", checkpoint, dsn)
    assert totals.stored == 0 and rows(dsn, AGG_SQL) == before


def test_a_damaged_checkpoint_refuses_to_start(spark, pg_cluster, tmp_path, capsys):
    from ingestion.spark.job import CheckpointError, JobConfig, check_checkpoint, run

    simulated_files(tmp_path / "landing", ticks=4, per_file=2)
    dsn = spark_db(pg_cluster)
    checkpoint = tmp_path / "checkpoint"
    run_spark(spark, tmp_path / "landing", checkpoint, dsn)
    summary = check_checkpoint(str(checkpoint))
    # Two data batches, and possibly a last one without data that only moves the watermark.
    assert summary["last_committed"] == summary["last_planned"] >= 1

    pristine = tmp_path / "pristine"
    shutil.copytree(checkpoint, pristine)
    damages = {
        "truncated offsets": lambda c: (c / "offsets" / "1").write_text('v1\n{"batchWatermarkMs":0,"batchTi'),
        "empty commit": lambda c: (c / "commits" / "1").write_text(""),
        "corrupt commit": lambda c: (c / "commits" / "0").write_bytes(b"v1\n\x00\x17garbage"),
        "lost offsets": lambda c: (c / "offsets" / "0").unlink(),
        "corrupt metadata": lambda c: (c / "metadata").write_text('{"id": '),
        "corrupt source log": lambda c: (c / "sources" / "0" / "1").write_text('v1\n{"path":"file:/x'),
    }
    for name, damage in damages.items():
        shutil.rmtree(checkpoint)
        shutil.copytree(pristine, checkpoint)
        damage(checkpoint)
        with pytest.raises(CheckpointError):
            check_checkpoint(str(checkpoint))
        config = JobConfig(source="files", path=str(tmp_path / "landing"), checkpoint=str(checkpoint), database_url=dsn)
        assert run(config, spark=spark, install_signals=False) == 2, name
        err = capsys.readouterr().err
        assert "is damaged, the job will not start" in err and str(checkpoint) in err, (name, err)

    # The CLI says the same, without starting Spark.
    result = subprocess.run(
        [PYTHON, "-m", "ingestion.spark", "check-checkpoint", str(checkpoint)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "is damaged" in result.stderr


def test_late_events_inside_and_beyond_the_watermark(spark, pg_cluster, tmp_path):
    sid = next(s.sensor_id for s in SENSORS if s.kind == "noise")

    def msg(hms: str, value: float) -> str:
        return (
            f'{{"timestamp": "2026-10-27T{hms}Z", "sensor_id": "{sid}", "metric": "noise", "value": {value}, '
            '"unit": "dB(A)"}'
        )

    landing = tmp_path / "landing"
    write_lines(landing, 0, [msg("09:00:10", 60), msg("09:00:20", 62)])
    write_lines(landing, 1, [msg("09:10:00", 50)])  # max event time 09:10 -> watermark 09:08 (2 minutes)
    write_lines(landing, 2, [msg("09:10:05", 51)])  # one more batch: the 09:08 watermark now applies
    write_lines(landing, 3, [msg("09:09:00", 55), msg("09:00:30", 64)])  # inside (09:09) and beyond (09:00:30)
    dsn = spark_db(pg_cluster)
    totals = run_spark(spark, landing, tmp_path / "checkpoint", dsn)

    # Both late events are stored raw.
    raw = rows(dsn, "SELECT to_char(time, 'HH24:MI:SS'), value FROM sensor_data ORDER BY time")
    assert ("09:00:30", 64.0) in raw and ("09:09:00", 55.0) in raw and len(raw) == 6
    minute = {
        r[0]: r[1:]
        for r in rows(
            dsn,
            "SELECT to_char(window_start, 'HH24:MI'), count, avg FROM sensor_data_agg"
            " WHERE window_end - window_start = interval '1 minute'",
        )
    }
    # Inside the watermark: in its windows. Beyond: the 1-minute window Spark had finalised stays {60, 62}
    # (a finalised window never changes), and so do the 5-minute and 1-hour windows derived from the minutes.
    assert minute["09:09"] == (1, 55.0)
    assert minute["09:00"] == (2, 61.0)
    hour = rows(dsn, "SELECT count, avg FROM sensor_data_agg WHERE window_end - window_start = interval '1 hour'")
    assert hour == [(5, (60 + 62 + 50 + 51 + 55) / 5)]
    five = rows(
        dsn,
        "SELECT to_char(window_start, 'HH24:MI'), count FROM sensor_data_agg"
        " WHERE window_end - window_start = interval '5 minutes' AND window_start <= '2026-10-27T09:00:00Z'"
        " ORDER BY 1",
    )
    assert five == [("08:56", 2), ("08:57", 2), ("08:58", 2), ("08:59", 2), ("09:00", 2)]
    # Counted, not silently lost.
    assert totals.late_dropped == 1
    assert rows(dsn, "SELECT sum(late_dropped), sum(stored) FROM stream_batches") == [(1, 6)]
    late_batch = rows(dsn, "SELECT watermark FROM stream_batches WHERE late_dropped > 0")
    assert late_batch[0][0].strftime("%H:%M:%S") == "09:08:05" or late_batch[0][0].strftime("%H:%M") == "09:08"


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_a_sensor_an_operator_adds_is_accepted_without_a_restart(spark, pg_cluster, tmp_path):
    """The job validates with the database's catalogue of the moment, as the lite consumer does: a message of
    a sensor nobody registered is quarantined; the operator adds the sensor while the query runs; the same
    sensor's next message is stored. The query is never restarted."""
    from ingestion.registry import add_sensor, set_sensor_active
    from ingestion.spark.job import JobConfig, start, stop_gracefully

    dsn = spark_db(pg_cluster)
    landing = tmp_path / "landing"
    new_id, old_id = "op-added-01", next(s.sensor_id for s in SENSORS if s.kind == "noise")

    def msg(sensor_id: str, minute: int, value: float) -> str:
        return (
            f'{{"timestamp": "2026-10-27T09:0{minute}:00Z", "sensor_id": "{sensor_id}", "metric": "noise", '
            f'"value": {value}}}'
        )

    write_lines(landing, 0, [msg(new_id, 0, 50), msg(old_id, 0, 60)])
    config = JobConfig(source="files", path=str(landing), max_files_per_trigger=1, checkpoint=str(tmp_path / "ck"),
                       trigger="0 seconds", database_url=dsn)  # fmt: skip
    query, sink = start(spark, config)
    try:
        wait_for(lambda: rows(dsn, "SELECT count(*) FROM sensor_data")[0][0] == 1)
        conn = psycopg2.connect(dsn)
        try:
            assert add_sensor(conn, sensor_id=new_id, name="Added by an operator", kind="noise",
                              commune="Fort-de-France", insee="97209", latitude=14.6, longitude=-61.07,
                              expected_interval_s=60)  # fmt: skip
            assert set_sensor_active(conn, old_id, False)
        finally:
            conn.close()
        write_lines(landing, 1, [msg(new_id, 1, 51), msg(old_id, 1, 61)])
        # Until all four messages are accounted for (a micro-batch without data may be logged in between).
        wait_for(lambda: rows(dsn, "SELECT (SELECT count(*) FROM sensor_data) + (SELECT count(*) FROM quarantine)")
                 == [(4,)])  # fmt: skip
    finally:
        stop_gracefully(query, 30, sink)
        sink.close()
    assert query.exception() is None or sink.refused
    assert rows(dsn, "SELECT sensor_id, value FROM sensor_data ORDER BY value") == [(new_id, 51.0), (old_id, 60.0)]
    rejected = rows(dsn, "SELECT reason, payload FROM quarantine ORDER BY received_at")
    assert [(reason, new_id in payload, old_id in payload) for reason, payload in rejected] == [
        ("unknown_sensor", True, False),  # before the operator added it
        ("unknown_sensor", False, True),  # deactivated meanwhile
    ]


def test_kafka_source_without_the_connector_is_a_clear_error(spark, pg_cluster, tmp_path):
    from ingestion.spark.sources import KafkaConfig, KafkaConnectorMissing, kafka_source

    with pytest.raises(KafkaConnectorMissing, match="spark-submit --packages org.apache.spark:spark-sql-kafka"):
        kafka_source(spark, KafkaConfig(bootstrap_servers="127.0.0.1:1"))
    # The CLI says it in one line, without a traceback.
    result = subprocess.run(
        [PYTHON, "-m", "ingestion", "spark", "run", "--source", "kafka", "--checkpoint", str(tmp_path / "ck"),
         "--database-url", spark_db(pg_cluster), "--master", "local[1]", "--conf", "spark.ui.enabled=false"],
        cwd=ROOT, env={**os.environ, "SPARK_LOG_LEVEL": "ERROR"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: Spark has no Kafka source" in result.stderr and "Traceback" not in result.stderr


def test_cli_run_stops_cleanly_on_sigterm(pg_cluster, tmp_path):
    require(_java_available(), "Java 17")
    dsn = spark_db(pg_cluster)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOG_LEVEL": "ERROR"}
    # Through the project CLI's thin `spark` subcommand (python -m ingestion.spark is the same main()).
    command = [PYTHON, "-m", "ingestion", "spark", "run", "--source", "rate", "--rows-per-second", "50", "--trigger",
               "1 second", "--checkpoint", str(tmp_path / "ck"), "--database-url", dsn, "--master", "local[2]",
               "--shuffle-partitions", "2", "--conf", "spark.ui.enabled=false"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if rows(dsn, "SELECT count(*) FROM stream_batches WHERE stored > 0")[0][0] >= 2:
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped cleanly" in out
    stored = rows(dsn, "SELECT count(*) FROM sensor_data")[0][0]
    assert stored > 0 and stored == rows(dsn, "SELECT sum(stored) FROM stream_batches")[0][0]


def test_spark_submit_runs_the_job(pg_cluster, tmp_path):
    require(_java_available(), "Java 17")
    submit = Path(PYTHON).parent / "spark-submit"
    require(submit.exists(), "spark-submit (pyspark)")
    simulated_files(tmp_path / "landing", ticks=6, per_file=3)
    dsn = spark_db(pg_cluster)
    env = {**os.environ, "PYSPARK_PYTHON": PYTHON, "SPARK_LOG_LEVEL": "ERROR"}
    result = subprocess.run(
        [
            str(submit),
            "--master",
            "local[2]",
            "--conf",
            "spark.ui.enabled=false",
            "ingestion/spark/job.py",
            "run",
            "--source",
            "files",
            "--path",
            str(tmp_path / "landing"),
            "--trigger",
            "available-now",
            "--checkpoint",
            str(tmp_path / "ck"),
            "--database-url",
            dsn,
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped cleanly" in result.stdout
    assert rows(dsn, "SELECT count(*) > 0, count(DISTINCT sensor_id) FROM sensor_data")[0][0] is True
