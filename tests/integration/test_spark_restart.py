"""The Spark job across stops, crashes and restarts (files source, local[2], real PostgreSQL): exactly once by the
checkpoint, stream_batches and the ledger identities of the executors' commits; damaged checkpoints; the CLI and
spark-submit entry points."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingestion.simulator import FaultConfig
from tests.support.services import require, wait_for
from tests.support.spark import (
    LEDGER_SQL,
    assert_same_tables,
    batch_log,
    execute,
    java_available,
    local_spark,
    no_double_kpi,
    rows,
    run_lite,
    run_spark,
    simulated_files,
)

# Generous bounds: a JVM and its Python workers start in ~15 s on an idle host, in minutes on one loaded 10x over.
pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@pytest.fixture(scope="module")
def spark():
    return local_spark(2)


def spark_db(pg_cluster) -> str:
    return pg_cluster.url(pg_cluster.fresh_database())


def uncommit(checkpoint: Path, batch: int) -> None:
    """What a crash after the sink's writes and before Spark's commit leaves: batch `batch` planned, not committed
    (Spark plans batch n + 1 only after committing n, so nothing after it is planned either)."""
    for log_dir, first in (("commits", batch), ("offsets", batch + 1)):
        for entry in (checkpoint / log_dir).iterdir():
            if entry.name.isdigit() and int(entry.name) >= first:
                entry.unlink()
                (checkpoint / log_dir / f".{entry.name}.crc").unlink(missing_ok=True)


def test_stop_crash_replay_and_restart_are_exactly_once(spark, pg_cluster, db_url, tmp_path):
    from ingestion.spark.job import JobConfig, start, stop_gracefully

    landing = tmp_path / "landing"
    files = simulated_files(landing, ticks=40, per_file=4, faults=FaultConfig(duplicate_rate=0.02))
    run_lite(files, db_url)  # the reference
    dsn = spark_db(pg_cluster)
    checkpoint = tmp_path / "checkpoint"
    config = JobConfig(source="files", path=str(landing), max_files_per_trigger=1, checkpoint=str(checkpoint),
                       trigger="0 seconds", database_url=dsn)  # fmt: skip
    # 1. Stop mid-stream, gracefully, after a few micro-batches.
    query, sink = start(spark, config)
    wait_for(lambda: len(batch_log(dsn)) >= 4, 600, "four micro-batches")
    stop_gracefully(query, 30, sink)
    sink.close()
    done = len(batch_log(dsn))
    assert 4 <= done < len(files), f"{done} micro-batches before the stop"
    committed = sorted(int(p.name) for p in (checkpoint / "commits").iterdir() if p.name.isdigit())
    assert committed[-1] == done - 1, "graceful: every micro-batch written was committed"

    # 2. A crash after the executors' commits, before the micro-batch was logged and committed by Spark: the last
    # micro-batch is planned but not committed, and not in stream_batches.
    last = committed[-1]
    uncommit(checkpoint, last)
    logged = "SELECT batch_id, received, stored, duplicates, quarantined FROM stream_batches WHERE batch_id = %s"
    logged_before = rows(dsn, logged, (last,))
    execute(dsn, "DELETE FROM stream_batches WHERE batch_id = %s", (last,))

    # 3. Restart from the checkpoint: the micro-batch is replayed, each of its commits found in the ledger (nothing
    # written again, its counts whole), and the rest runs.
    totals = run_spark(spark, dsn, checkpoint, path=str(landing))
    assert totals.skipped == 0 and totals.replayed_commits >= 1
    assert rows(dsn, logged, (last,)) == logged_before
    # And a crash after the micro-batch was logged: found in stream_batches, skipped without being read.
    final = max(int(p.name) for p in (checkpoint / "offsets").iterdir() if p.name.isdigit())
    uncommit(checkpoint, final)
    totals = run_spark(spark, dsn, checkpoint, path=str(landing))
    assert totals.skipped == 1 and totals.received == 0
    log = batch_log(dsn)
    assert [b[0] for b in log] == list(range(final + 1))  # no micro-batch twice, none missing
    assert_same_tables(db_url, dsn)  # no duplicate, no gap, windows as if never interrupted
    assert no_double_kpi(dsn)
    assert rows(dsn, LEDGER_SQL) == rows(db_url, LEDGER_SQL)  # the ledger counted each message once
    assert sum(b[2] for b in log) == rows(dsn, "SELECT count(*) FROM sensor_data")[0][0]

    # 4. The same checkpoint again: nothing new, nothing changes.
    before = rows(dsn, "SELECT * FROM sensor_data_agg ORDER BY 1, 2, 3, 4")
    totals = run_spark(spark, dsn, checkpoint, path=str(landing))
    assert totals.stored == 0 and rows(dsn, "SELECT * FROM sensor_data_agg ORDER BY 1, 2, 3, 4") == before

    # 5. A new checkpoint over the same files (a lost checkpoint): everything is read again, nothing is stored
    # twice — the ledger identities differ (another query), the writes are idempotent.
    totals = run_spark(spark, dsn, tmp_path / "new-checkpoint", path=str(landing))
    assert totals.stored == 0 and totals.duplicates > 0
    assert_same_tables(db_url, dsn)


def test_a_damaged_checkpoint_refuses_to_start(spark, pg_cluster, tmp_path, capsys):
    from ingestion.spark.job import CheckpointError, JobConfig, check_checkpoint, run

    landing = tmp_path / "landing"
    simulated_files(landing, ticks=4, per_file=2)
    dsn = spark_db(pg_cluster)
    checkpoint = tmp_path / "checkpoint"
    run_spark(spark, dsn, checkpoint, path=str(landing))
    summary = check_checkpoint(str(checkpoint))
    assert summary["last_committed"] == summary["last_planned"] == 1  # two files, two micro-batches, no empty one

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
        config = JobConfig(source="files", path=str(landing), checkpoint=str(checkpoint), database_url=dsn)
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


def test_cli_run_stops_cleanly_on_sigterm(pg_cluster, tmp_path):
    require(java_available(), "Java 17")
    dsn = spark_db(pg_cluster)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOG_LEVEL": "ERROR"}
    # Through the project CLI's thin `spark` subcommand (python -m ingestion.spark is the same main()).
    command = [PYTHON, "-m", "ingestion", "spark", "run", "--source", "rate", "--rows-per-second", "50", "--trigger",
               "1 second", "--checkpoint", str(tmp_path / "ck"), "--database-url", dsn, "--master", "local[2]",
               "--conf", "spark.ui.enabled=false"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        logged = "SELECT count(*) FROM stream_batches WHERE stored > 0"
        wait_for(lambda: proc.poll() is not None or rows(dsn, logged)[0][0] >= 2, 600, "two micro-batches", every=0.5)
        assert proc.poll() is None, proc.stdout.read()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped cleanly" in out
    stored = rows(dsn, "SELECT count(*) FROM sensor_data")[0][0]
    assert stored > 0 and stored == rows(dsn, "SELECT sum(stored) FROM stream_batches")[0][0]


def test_spark_submit_runs_the_job(pg_cluster, tmp_path):
    require(java_available(), "Java 17")
    submit = Path(PYTHON).parent / "spark-submit"
    require(submit.exists(), "spark-submit (pyspark)")
    files = simulated_files(tmp_path / "landing", ticks=6, per_file=3)
    dsn = spark_db(pg_cluster)
    env = {**os.environ, "PYSPARK_PYTHON": PYTHON, "SPARK_LOG_LEVEL": "ERROR"}
    started = time.monotonic()
    result = subprocess.run(
        [str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false", "ingestion/spark/job.py", "run",
         "--source", "files", "--path", str(tmp_path / "landing"), "--trigger", "available-now", "--checkpoint",
         str(tmp_path / "ck"), "--database-url", dsn],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped cleanly" in result.stdout, time.monotonic() - started
    messages = sum(len(p.read_bytes().splitlines()) for p in files)
    assert rows(dsn, "SELECT sum(received) FROM ingest_ledger")[0][0] == messages
