"""The queries a user types in psql (the seeds' troubleshooting section) work on our schema."""

import shutil
import subprocess

from ingestion.simulator import Simulator
from ingestion.writer import BatchTimings, Writer
from tests.support.services import require


def psql(url: str, query: str) -> str:
    result = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", url, "-c", query], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_documented_psql_queries(db_url):
    require(shutil.which("psql") is not None, "psql (postgresql-client)")
    import time

    now = time.time()
    with Writer(db_url) as writer:
        for chunk in Simulator(seed=2).history(now - 600, now, step_s=60):
            writer.write(chunk, timings=BatchTimings(source=now - 0.5, broker=now - 0.4, received=now - 0.3))
    latest = psql(db_url, "SELECT * FROM sensor_data ORDER BY time DESC LIMIT 10;")
    assert "(10 rows)" in latest and "sensor_id" in latest
    kpi = psql(db_url, "SELECT * FROM pipeline_kpi ORDER BY time DESC LIMIT 10;")
    assert "end_to_end" in kpi
    stats = psql(db_url, "SELECT * FROM get_pipeline_latency_stats('1 hour'::interval);")
    for column in ("stage", "samples", "avg_ms", "p50_ms", "p95_ms", "p99_ms"):
        assert column in stats
    assert "(4 rows)" in stats
