"""`python -m ingestion archive ...` as an operator runs it: a one-shot Delta run archives and records its
watermarks; an InfluxDB that is away is a clear error (exit 1) and moves no watermark."""

from __future__ import annotations

import subprocess
import sys

from deltalake import DeltaTable

from tests.support.app import ROOT
from tests.support.archive_seed import seed_history
from tests.support.services import free_port


def cli(db_url: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestion", "--database-url", db_url, "archive", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def test_archive_commands(db_url, conn, tmp_path):
    stored = seed_history(db_url, hours=0.5)
    done = cli(db_url, "delta", "--root", str(tmp_path / "lake"), "--lag", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "archive delta done" in done.stdout and "100.0%" in done.stdout
    assert DeltaTable(str(tmp_path / "lake" / "silver")).count() == stored
    with conn.cursor() as cur:
        cur.execute("SELECT stream, rows_total, runs FROM archive_watermarks WHERE target = 'delta' ORDER BY 1")
        marks = cur.fetchall()
    assert [m[0] for m in marks] == ["quarantine", "raw", "windows"] and dict((m[0], m[1]) for m in marks)[
        "raw"
    ] == stored

    away = cli(db_url, "influx", "--url", f"http://127.0.0.1:{free_port()}", "--lag", "0", "--quiet")
    assert away.returncode == 1
    assert "error: archive influx" in away.stdout and "unreachable" in away.stdout
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM archive_watermarks WHERE target = 'influx'")
        assert cur.fetchone()[0] == 0


def test_run_archives_periodically_and_serves_metrics(db_url, conn, tmp_path):
    """`ingestion run --archive delta --metrics-port`: the live process archives what it commits, and its /metrics
    counts what its ledger holds."""
    import os
    import signal
    import time
    import urllib.request

    lake, port = tmp_path / "lake", free_port()
    log = tmp_path / "run.log"
    env = {**os.environ, "MADININA_LAKE_DIR": str(lake)}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingestion", "--database-url", db_url, "run", "--alerts-every", "0",
             "--spool-dir", str(tmp_path / "spool"), "--archive", "delta", "--archive-every", "1s",
             "--archive-lag", "0", "--metrics-port", str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while not (DeltaTable.is_deltatable(str(lake / "silver")) and DeltaTable(str(lake / "silver")).count()):
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()[-3000:]
    assert 'madinina_ingest_received_total{consumer="run"}' in body
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data")
        stored = cur.fetchone()[0]
        cur.execute("SELECT upto_time IS NOT NULL FROM archive_watermarks WHERE target = 'delta' AND stream = 'raw'")
        assert cur.fetchone() == (True,)
    # What the lake holds is what the database held when the last archive run read it: never more, never doubled.
    silver = DeltaTable(str(lake / "silver")).to_pandas(columns=["sensor_id", "metric", "time"])
    assert 0 < len(silver) <= stored
    assert not silver.duplicated().any()
