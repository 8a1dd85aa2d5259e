"""The ingestion CLI as a user runs it: help, files transport, backfill progress, clean shutdown on SIGTERM."""

import json
import re
import signal
import subprocess
import sys
import time

from tests.support.app import ROOT
from tests.support.services import wait_for


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestion", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_help_lists_the_commands():
    out = cli("--help")
    assert out.returncode == 0
    for command in ("run", "simulate", "consume", "backfill"):
        assert command in out.stdout


def test_files_transport_writes_complete_json_lines(tmp_path):
    start = time.time() - 600
    out = cli("simulate", "--transport", "files", "--directory", str(tmp_path), "--ticks", "5", "--start", str(start))
    assert out.returncode == 0, out.stderr
    files = sorted(tmp_path.glob("*.jsonl"))
    assert len(files) == 5
    assert not list((tmp_path / "_incoming").iterdir())  # nothing half-written left behind
    lines = files[0].read_text().splitlines()
    assert len(lines) >= 40 and all(isinstance(json.loads(line), dict) for line in lines)


def test_backfill_reports_progress_and_is_idempotent(db_url, conn):
    first = cli("--database-url", db_url, "backfill", "2h", "--step", "300")
    assert first.returncode == 0, first.stderr
    assert "%" in first.stdout and "backfill done" in first.stdout
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data")
        rows = cur.fetchone()[0]
    assert rows > 1000
    again = cli("--database-url", db_url, "backfill", "2h", "--step", "300")
    assert again.returncode == 0
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_data")
        assert cur.fetchone()[0] <= rows + 300  # only the minutes that passed in between can be new


def test_run_stops_cleanly_on_sigterm_and_loses_nothing(db_url, conn, tmp_path):
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingestion", "--database-url", db_url, "run", "--report-every", "1",
             "--malformed-rate", "0.05", "--spool-dir", str(tmp_path / "spool")],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(lambda: "live: " in log.read_text(), 60, "live ingestion")
            wait_for(lambda: ledger(conn)[0] >= 600, 60, "ten ticks committed")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
    text = log.read_text()
    assert "stopped cleanly" in text and "Traceback" not in text
    generated = int(re.search(r"simulator: ([\d,]+) messages generated", text).group(1).replace(",", ""))
    received, stored, quarantined = ledger(conn)
    assert received == generated  # the sender's own count: every message it generated was committed
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM sensor_data), (SELECT count(*) FROM quarantine)")
        assert cur.fetchone() == (stored, quarantined)
    assert 0 < quarantined < stored
    status = json.loads(
        cli("--database-url", db_url, "status", "--spool-dir", str(tmp_path / "spool"), "--json").stdout
    )
    assert status["spool"]["depth"] == 0 and status["spools"][0]["state"] == "stopped"


def ledger(conn) -> tuple[int, int, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(sum(received), 0), coalesce(sum(stored), 0), coalesce(sum(quarantined), 0)"
                    " FROM ingest_ledger WHERE processor = 'lite'")  # fmt: skip
        return tuple(int(v) for v in cur.fetchone())


def test_an_unreachable_database_is_a_clear_error_not_a_traceback():
    out = cli("--database-url", "postgresql://postgres@127.0.0.1:9/nope", "backfill", "1h")
    assert out.returncode == 1
    assert out.stderr.startswith("error:") and "Traceback" not in out.stderr
