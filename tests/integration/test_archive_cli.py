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
